/* libFuzzer target: browsers' control messages (climsg.c).
 *
 * The oracle is a reading of the message written here from climsg.h's
 * contract, with cJSON (which climsg.c also reads the JSON with: the
 * library is not what is tested, the rules on top of it are): a JSON
 * object with "action" "subscribe" or "unsubscribe" and a string
 * "channel"; "since", if there, a whole number from 0 to 2^53; "epoch",
 * if there, 16 lowercase hex digits; "filter", if there, null or a string
 * of at most FILTER_MAX_LEN bytes. climsg_parse must accept exactly those,
 * say why it refuses the others, and hand out the same fields.
 *
 * The JSON itself: the message must be one object with only JSON's four
 * whitespace bytes around it (judged here byte by byte, not by cJSON,
 * which would skip any control byte and ignore what follows the value);
 * inside it, the reading is as lax as cJSON, so numbers such as 01 pass
 * both (jsonref.h would refuse them). */
#include <cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "climsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
is_epoch(const cJSON *e)
{
	const char *s;
	size_t i;

	if (!cJSON_IsString(e))
		return 0;
	s = e->valuestring;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == 16;
}

/* Fills *want as climsg.h says; returns 1 if the message is good. */
static int
space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int
reference(const char *in, size_t len, struct climsg *want)
{
	const char *end = NULL;
	size_t lead = 0;
	cJSON *msg = NULL;
	const cJSON *action, *channel, *since, *epoch, *filter;
	int ok = 0;

	memset(want, 0, sizeof(*want));
	while (lead < len && space(in[lead]))
		lead++;
	if (lead < len && in[lead] == '{')
		msg = cJSON_ParseWithLengthOpts(in, len, &end, 0);
	if (!cJSON_IsObject(msg))
		goto out;
	for (const char *p = end; p && p < in + len; p++)
		if (!space(*p))
			goto out;
	action = cJSON_GetObjectItemCaseSensitive(msg, "action");
	channel = cJSON_GetObjectItemCaseSensitive(msg, "channel");
	since = cJSON_GetObjectItemCaseSensitive(msg, "since");
	epoch = cJSON_GetObjectItemCaseSensitive(msg, "epoch");
	filter = cJSON_GetObjectItemCaseSensitive(msg, "filter");
	if (!cJSON_IsString(action) || !cJSON_IsString(channel))
		goto out;
	if (!strcmp(action->valuestring, "subscribe"))
		want->action = CLIMSG_SUBSCRIBE;
	else if (!strcmp(action->valuestring, "unsubscribe"))
		want->action = CLIMSG_UNSUBSCRIBE;
	else
		goto out;
	want->channel_len = strlen(channel->valuestring);
	memcpy(want->channel, channel->valuestring,
	       want->channel_len < sizeof(want->channel) ? want->channel_len : sizeof(want->channel) - 1);
	if (since) {
		double x = since->valuedouble;

		if (!cJSON_IsNumber(since) || !(x >= 0 && x <= 9007199254740992.0) || floor(x) != x)
			goto out;
		want->has_since = 1;
		want->since = (uint64_t)x;
	}
	if (epoch) {
		if (!is_epoch(epoch))
			goto out;
		memcpy(want->epoch, epoch->valuestring, 16);
	}
	if (filter && !cJSON_IsNull(filter)) {
		if (!cJSON_IsString(filter) || strlen(filter->valuestring) > FILTER_MAX_LEN)
			goto out;
		want->filter_len = strlen(filter->valuestring);
		memcpy(want->filter, filter->valuestring, want->filter_len);
	}
	ok = 1;
out:
	cJSON_Delete(msg);
	return ok;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly `size` bytes, so any over-read is caught */
	char *buf = malloc(size ? size : 1);
	struct climsg m, want;
	int good;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	good = reference(buf, size, &want);
	if ((climsg_parse(buf, size, &m) != CLIMSG_BAD) != good)
		abort();
	if (!good) {
		if (!m.error)
			abort();
	} else if (m.action != want.action || m.channel_len != want.channel_len ||
		   strcmp(m.channel, want.channel) || m.has_since != want.has_since ||
		   m.since != want.since || strcmp(m.epoch, want.epoch) ||
		   m.filter_len != want.filter_len || strcmp(m.filter, want.filter)) {
		abort();
	}
	free(buf);
	return 0;
}
