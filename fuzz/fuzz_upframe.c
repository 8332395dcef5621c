/* libFuzzer target: the upstream frame parser, and the envelope built from
 * whatever it accepts. Invariants: spans lie inside the input; an accepted
 * payload is a JSON object; the envelope is a JSON object naming the
 * channel and seq, with that payload as its data.
 *
 * The oracle is cJSON, not json_scan: the parser under test validates
 * payloads with json_scan, so checking with the same scanner would accept
 * whatever it wrongly accepts. cJSON does not check UTF-8 and nests up to
 * CJSON_NESTING_LIMIT (1000) deep, both looser than json_scan (64), so
 * every payload json_scan rightly accepts parses with cJSON too. */
#include <cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "chname.h"
#include "envelope.h"
#include "upframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The JSON value filling all of in[0..len) (whitespace around it allowed),
 * or NULL: cJSON alone stops at the end of the first value. JSON's grammar
 * allows a lone surrogate escape ("\ud800"), cJSON refuses it: escapes of
 * surrogates are turned into "\u0041" in a copy first, which changes no
 * structure (same length, still hex digits). */
static cJSON *
parse_whole(const char *in, size_t len)
{
	char *p = malloc(len ? len : 1);
	const char *end = NULL;
	cJSON *v;

	if (!p)
		abort();
	memcpy(p, in, len);
	for (size_t i = 0; i + 1 < len; i++) {
		if (p[i] != '\\')
			continue;
		if (p[i + 1] == 'u' && i + 5 < len && (p[i + 2] | 0x20) == 'd' &&
		    p[i + 3] && strchr("89abcdefABCDEF", p[i + 3]))
			memcpy(p + i + 2, "0041", 4);
		i++;	/* the escaped character: "\\u" is no escape of u */
	}
	v = cJSON_ParseWithLengthOpts(p, len, &end, 0);
	if (v) {
		while (end < p + len && *end && strchr(" \t\r\n", *end))
			end++;
		if (end != p + len) {
			cJSON_Delete(v);
			v = NULL;
		}
	}
	free(p);
	return v;
}

/* abort() unless env is {"channel":CHANNEL,"seq":42,...,"data":PAYLOAD} */
static void
check_envelope(struct frame *env, const char *channel, size_t channel_len,
	       const cJSON *payload)
{
	cJSON *e = parse_whole((const char *)frame_data(env), env->len);
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly `size` bytes, so any over-read is caught */
	char *buf = malloc(size ? size : 1);
	struct upframe f;
	struct frame *env;
	cJSON *payload;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (upframe_parse(buf, size, &f) != UPFRAME_MALFORMED) {
		if (f.payload < buf || f.payload + f.payload_len > buf + size ||
		    f.channel < buf || f.channel + f.channel_len > buf + size)
			abort();
		payload = parse_whole(f.payload, f.payload_len);
		if (!cJSON_IsObject(payload) || f.payload[0] != '{')
			abort();
		/* the relay only builds envelopes for registry names */
		if (chname_valid(f.channel, f.channel_len)) {
			env = envelope_data(f.channel, f.channel_len, 42, "0123456789abcdef",
					    1764081000123, f.payload, f.payload_len);
			if (env)
				check_envelope(env, f.channel, f.channel_len, payload);
			frame_unref(env);
		}
		cJSON_Delete(payload);
	}
	free(buf);
	return 0;
}
