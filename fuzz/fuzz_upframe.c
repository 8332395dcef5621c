/* libFuzzer target: the upstream frame parser, and the envelope built from
 * whatever it accepts.
 *
 * The oracle judges every input on its own, never with the code under test
 * (upframe.c and the json_scan.c it calls), so a parser that accepts what it
 * should refuse, or refuses what it should accept, aborts:
 * - valid (upframe.h, json_scan.h): the whole input is one JSON array of
 *   exactly two elements, a non-empty string and an object, with nothing
 *   but JSON whitespace around it, strings in valid UTF-8, numbers in
 *   RFC 8259 form, the payload nested at most JSON_MAX_DEPTH deep. cJSON
 *   judges the structure, jsonref_lex what cJSON lets through (jsonref.h);
 * - upframe_parse accepts exactly the valid inputs;
 * - an accepted frame's channel and payload are the exact spans of its two
 *   elements, channel_escaped says whether the channel holds a backslash;
 * - an ack is a payload of at most 512 bytes with exactly the members
 *   "response" and "status", status a string; ack_ok means it is "ok";
 * - the envelope built from a frame is a JSON object naming the channel and
 *   seq, with that payload as its data. */
#include <cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "chname.h"
#include "envelope.h"
#include "json_scan.h"
#include "jsonref.h"
#include "upframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort() unless env is {"channel":CHANNEL,"seq":42,...,"data":PAYLOAD} */
static void
check_envelope(struct frame *env, const char *channel, size_t channel_len,
	       const cJSON *payload)
{
	cJSON *e = jsonref_parse((const char *)frame_data(env), env->len);
	cJSON *ch, *seq, *d;
	char *a, *b;

	if (!cJSON_IsObject(e))
		abort();
	ch = cJSON_GetObjectItemCaseSensitive(e, "channel");
	seq = cJSON_GetObjectItemCaseSensitive(e, "seq");
	d = cJSON_GetObjectItemCaseSensitive(e, "data");
	if (!cJSON_IsString(ch) || strlen(ch->valuestring) != channel_len ||
	    memcmp(ch->valuestring, channel, channel_len))
		abort();
	if (!cJSON_IsNumber(seq) || seq->valuedouble != 42)
		abort();
	/* printed, not cJSON_Compare: that looks object members up by name, so
	 * a payload with a repeated key would not equal itself */
	a = d ? cJSON_PrintUnformatted(d) : NULL;
	b = cJSON_PrintUnformatted(payload);
	if (!a || !b || strcmp(a, b))
		abort();
	cJSON_free(a);
	cJSON_free(b);
	cJSON_Delete(e);
}

/* abort() unless an accepted ack is one (see the top of this file). Escaped
 * member names are not acks (upframe.h's ack is UW's literal text), so
 * without a backslash in the payload the kind must be exactly right. */
static void
check_ack(const struct upframe *f, const cJSON *payload)
{
	const cJSON *m, *status = NULL;
	int response = 0, other = 0, is_ack, plain;

	cJSON_ArrayForEach(m, payload) {
		if (!strcmp(m->string, "response") && !response)
			response = 1;
		else if (!strcmp(m->string, "status") && !status)
			status = m;
		else
			other = 1;
	}
	is_ack = f->payload_len <= 512 && response && cJSON_IsString(status) && !other;
	plain = !memchr(f->payload, '\\', f->payload_len);
	if (f->kind == UPFRAME_ACK) {
		if (!is_ack || f->ack_status < f->payload ||
		    f->ack_status + f->ack_status_len > f->payload + f->payload_len)
			abort();
		if (f->ack_ok != (f->ack_status_len == 2 && !memcmp(f->ack_status, "ok", 2)))
			abort();
		if (plain && (strlen(status->valuestring) != f->ack_status_len ||
			      memcmp(status->valuestring, f->ack_status, f->ack_status_len)))
			abort();
	} else if (plain && is_ack)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly `size` bytes, so any over-read is caught */
	char *buf = malloc(size ? size : 1);
	struct upframe f;
	struct frame *env;
	struct jsonref_lex lx;
	cJSON *whole, *chan = NULL, *payload = NULL;
	long p0, p1;
	int valid;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	whole = jsonref_parse(buf, size);
	jsonref_lex(buf, size, &lx);
	if (cJSON_IsArray(whole) && cJSON_GetArraySize(whole) == 2) {
		chan = cJSON_GetArrayItem(whole, 0);
		payload = cJSON_GetArrayItem(whole, 1);
	}
	/* the outer bracket is one level, the payload may have JSON_MAX_DEPTH */
	valid = cJSON_IsString(chan) && cJSON_IsObject(payload) && lx.strict &&
		lx.depth <= JSON_MAX_DEPTH + 1 && lx.str_end - lx.str_start > 2;
	if ((upframe_parse(buf, size, &f) != UPFRAME_MALFORMED) != valid)
		abort();
	if (!valid) {
		if (!f.error)
			abort();
		goto out;
	}
	/* the exact spans: the first string, and what stands between the
	 * comma and the closing bracket but for whitespace */
	if (f.channel != buf + lx.str_start + 1 ||
	    f.channel_len != (size_t)(lx.str_end - lx.str_start - 2) ||
	    f.channel_escaped != !!memchr(f.channel, '\\', f.channel_len))
		abort();
	if (!f.channel_escaped && (strlen(chan->valuestring) != f.channel_len ||
				   memcmp(chan->valuestring, f.channel, f.channel_len)))
		abort();
	for (p0 = lx.comma + 1; jsonref_ws(buf[p0]); p0++)
		;
	for (p1 = lx.last - 1; jsonref_ws(buf[p1]); p1--)
		;
	if (f.payload != buf + p0 || f.payload + f.payload_len != buf + p1 + 1)
		abort();
	check_ack(&f, payload);
	/* the relay only builds envelopes for registry names */
	if (chname_valid(f.channel, f.channel_len)) {
		env = envelope_data(f.channel, f.channel_len, 42, "0123456789abcdef",
				    1764081000123, f.payload, f.payload_len);
		if (env)
			check_envelope(env, f.channel, f.channel_len, payload);
		frame_unref(env);
	}
out:
	cJSON_Delete(whole);
	free(buf);
	return 0;
}
