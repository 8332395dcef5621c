/* libFuzzer target: the upstream frame parser, and the envelope built from
 * whatever it accepts. Invariants: spans lie inside the input; an accepted
 * payload is valid JSON and an object; the envelope is valid JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "chname.h"
#include "envelope.h"
#include "json_scan.h"
#include "upframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly `size` bytes, so any over-read is caught */
	char *buf = malloc(size ? size : 1);
	struct upframe f;
	struct frame *env;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (upframe_parse(buf, size, &f) != UPFRAME_MALFORMED) {
		if (f.payload < buf || f.payload + f.payload_len > buf + size ||
		    f.channel < buf || f.channel + f.channel_len > buf + size)
			abort();
		if (!json_valid(f.payload, f.payload_len) || f.payload[0] != '{')
			abort();
		/* the relay only builds envelopes for registry names */
		if (chname_valid(f.channel, f.channel_len)) {
			env = envelope_data(f.channel, f.channel_len, 42, "0123456789abcdef",
					    1764081000123, f.payload, f.payload_len);
			if (env && !json_valid((const char *)frame_data(env), env->len))
				abort();
			frame_unref(env);
		}
	}
	free(buf);
	return 0;
}
