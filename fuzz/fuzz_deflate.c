/* libFuzzer target: permessage-deflate (deflate.c). The input is both a
 * Sec-WebSocket-Extensions value for deflate_negotiate and a compressed
 * client message for deflate_inflate. Invariants: an accepted offer gives
 * an answer that starts with "permessage-deflate; server_no_context_takeover"
 * and a window of 9..15 bits; a rejected one leaves no claim; inflation
 * never returns more than the bound and agrees with zlib run with four
 * times the room (the oracle) on what valid data inflates to, on what is
 * too big and on what is invalid. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "deflate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OUT 4096

/* zlib on its own, into cap bytes: -2 if it fills them, -1 invalid, else
 * the length. */
__attribute__((no_sanitize("coverage"))) static long
oracle(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	static const uint8_t tail[4] = { 0, 0, 0xff, 0xff };
	z_stream zs;
	int zr = Z_OK;
	long rc;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, -15) != Z_OK)
		abort();
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	while (zs.avail_in && zs.avail_out && zr == Z_OK)
		zr = inflate(&zs, Z_SYNC_FLUSH);
	if (zr == Z_OK && zs.avail_out && !zs.avail_in) {
		zs.next_in = (Bytef *)(uintptr_t)tail;
		zs.avail_in = 4;
		zr = inflate(&zs, Z_SYNC_FLUSH);
		if (zr == Z_BUF_ERROR)
			zr = Z_OK;
	}
	if (zr == Z_STREAM_END)
		zr = Z_OK;
	rc = !zs.avail_out ? -2 : (zr != Z_OK || zs.avail_in) ? -1 : (long)(cap - zs.avail_out);
	inflateEnd(&zs);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char answer[DEFLATE_ANSWER_MAX];
	int bits = -1;
	unsigned char *out = NULL;
	static uint8_t ref[4 * MAX_OUT];
	long n, want;

	if (size > 65536)
		return 0;
	answer[0] = '\0';
	if (deflate_negotiate((const char *)data, size, answer, &bits)) {
		if (strncmp(answer, "permessage-deflate; server_no_context_takeover", 46) || bits < 9 || bits > 15)
			abort();
	}
	n = deflate_inflate(data, size, MAX_OUT, &out);
	/* zlib with four times the room: what the data really inflates to */
	want = oracle(data, size, ref, sizeof(ref));
	if (n >= 0) {
		if (n > MAX_OUT || !out || want != n || memcmp(out, ref, (size_t)n))
			abort();
	} else if (out)
		abort();
	else if (n == -2 && want >= 0 && want <= MAX_OUT)
		abort();	/* refused as too big, but it fits */
	else if (n == -1 && (want == -2 || want > MAX_OUT))
		abort();	/* too big stops before invalid data is reached, never after */
	else if (n == -1 && want >= 0)
		abort();
	free(out);
	return 0;
}
