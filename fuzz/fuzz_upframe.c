/* libFuzzer target: the upstream frame parser, and the envelope built from
 * whatever it accepts. Invariants: spans lie inside the input; an accepted
 * payload is a JSON object; the envelope is a JSON object naming the
 * channel and seq, with that payload as its data.
 *
 * The oracle is cJSON, not json_scan: the parser under test validates
 * payloads with json_scan, so checking with the same scanner would accept
 * whatever it wrongly accepts. cJSON does not check UTF-8 and nests at most
 * CJSON_NESTING_LIMIT (1000) deep, both looser than json_scan (64), so
 * every payload json_scan accepts must parse with it too. */
#include <cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "chname.h"
#include "envelope.h"
#include "upframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort() unless env is {"channel":CHANNEL,"seq":42,...,"data":<payload>} */
static void
check_envelope(const struct frame *env, const char *channel, size_t channel_len,
	       const cJSON *payload)
{
	cJSON *e = cJSON_ParseWithLength((const char *)env->buf + FRAME_PRE, env->len);
	cJSON *ch, *seq, *d;

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
	if (!d || !cJSON_Compare(d, payload, 1))
		abort();
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
		payload = cJSON_ParseWithLength(f.payload, f.payload_len);
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
