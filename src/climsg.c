/* climsg.c: parse browser control messages with cJSON (small, rare). */
#include <cJSON.h>
#include <stdio.h>
#include <string.h>
#include "climsg.h"
#include "json_scan.h"

int
climsg_epoch_valid(const char *e)
{
	return strlen(e) == 16 && strspn(e, "0123456789abcdef") == 16;
}

static enum climsg_action
bad(struct climsg *m, const char *why)
{
	m->action = CLIMSG_BAD;
	m->error = why;
	return CLIMSG_BAD;
}

/* One JSON object, with nothing but JSON's whitespace around it: cJSON
 * alone reads the first value and ignores what follows it (and takes any
 * control byte before it for whitespace). */
static cJSON *
parse_object(const char *in, size_t len)
{
	const char *end = NULL, *p = json_ws(in, in + len);
	cJSON *msg;

	if (p == in + len || *p != '{')
		return NULL;
	msg = cJSON_ParseWithLengthOpts(in, len, &end, 0);
	if (msg && end && json_ws(end, in + len) != in + len) {
		cJSON_Delete(msg);
		return NULL;
	}
	return msg;
}

enum climsg_action
climsg_parse(const char *in, size_t len, struct climsg *m)
{
	cJSON *msg, *action, *channel, *since, *epoch, *filter;
	enum climsg_action a;

	memset(m, 0, sizeof(*m));
	msg = parse_object(in, len);
	if (!msg || !cJSON_IsObject(msg)) {
		cJSON_Delete(msg);
		return bad(m, "message must be one JSON object");
	}
	action = cJSON_GetObjectItemCaseSensitive(msg, "action");
	channel = cJSON_GetObjectItemCaseSensitive(msg, "channel");
	since = cJSON_GetObjectItemCaseSensitive(msg, "since");
	epoch = cJSON_GetObjectItemCaseSensitive(msg, "epoch");
	filter = cJSON_GetObjectItemCaseSensitive(msg, "filter");
	if (!cJSON_IsString(action) || !cJSON_IsString(channel)) {
		cJSON_Delete(msg);
		return bad(m, "expected {\"action\":\"subscribe\"|\"unsubscribe\",\"channel\":\"...\"}");
	}
	m->channel_len = strlen(channel->valuestring);
	snprintf(m->channel, sizeof(m->channel), "%s", channel->valuestring);
	if (!strcmp(action->valuestring, "subscribe"))
		a = CLIMSG_SUBSCRIBE;
	else if (!strcmp(action->valuestring, "unsubscribe"))
		a = CLIMSG_UNSUBSCRIBE;
	else {
		cJSON_Delete(msg);
		return bad(m, "unknown action");
	}
	if (since) {
		/* a whole number a double holds exactly */
		if (!cJSON_IsNumber(since) || !(since->valuedouble >= 0) ||
		    since->valuedouble > 9007199254740992.0 ||
		    since->valuedouble != (double)(uint64_t)since->valuedouble) {
			cJSON_Delete(msg);
			return bad(m, "since must be a whole number");
		}
		m->has_since = 1;
		m->since = (uint64_t)since->valuedouble;
	}
	if (epoch) {
		if (!cJSON_IsString(epoch) || !climsg_epoch_valid(epoch->valuestring)) {
			cJSON_Delete(msg);
			return bad(m, "epoch must be 16 hex digits");
		}
		memcpy(m->epoch, epoch->valuestring, 17);
	}
	if (filter && !cJSON_IsNull(filter)) {
		size_t fl;

		if (!cJSON_IsString(filter)) {
			cJSON_Delete(msg);
			return bad(m, "filter must be a string, e.g. \"tickers:SPY,QQQ;side:call\"");
		}
		fl = strlen(filter->valuestring);
		if (fl > FILTER_MAX_LEN) {
			cJSON_Delete(msg);
			return bad(m, "filter: longer than 512 bytes");
		}
		memcpy(m->filter, filter->valuestring, fl + 1);
		m->filter_len = fl;
	}
	cJSON_Delete(msg);
	m->action = a;
	return a;
}
