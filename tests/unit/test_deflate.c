/* test_deflate.c: permessage-deflate offers, shared compressed frames,
 * bounded inflation of client messages. zlib itself is the oracle. */
#include <zlib.h>
#include "deflate.h"
#include "envelope.h"
#include "frame.h"
#include "check.h"

#define ANSWER "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

static int
nego(const char *offer, char *answer, int *bits)
{
	answer[0] = '\0';
	*bits = -1;
	return deflate_negotiate(offer, strlen(offer), answer, bits);
}

static void
deflate_accepts_browser_offers(void)
{
	char a[DEFLATE_ANSWER_MAX];
	int bits;

	/* Chromium and Node's ws */
	CHECK_EQ_INT(nego("permessage-deflate; client_max_window_bits", a, &bits), 1);
	CHECK_STR(a, ANSWER);
	CHECK_EQ_INT(bits, 15);
	/* python-websockets 10 */
	CHECK_EQ_INT(nego("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12", a, &bits), 1);
	CHECK_STR(a, ANSWER "; server_max_window_bits=12");
	CHECK_EQ_INT(bits, 12);
	CHECK_EQ_INT(nego("permessage-deflate", a, &bits), 1);
	CHECK_EQ_INT(nego("PerMessage-Deflate;Server_No_Context_Takeover;client_no_context_takeover", a, &bits), 1);
	CHECK_EQ_INT(nego("permessage-deflate; server_max_window_bits=\"10\"", a, &bits), 1);
	CHECK_EQ_INT(bits, 10);
	CHECK_STR(a, ANSWER "; server_max_window_bits=10");
}

static void
deflate_declines_what_it_cannot_honour(void)
{
	static const char *const bad[] = {
		"",
		"x-webkit-deflate-frame",
		"permessage-deflate; server_max_window_bits=8",	/* zlib cannot */
		"permessage-deflate; server_max_window_bits",		/* value required */
		"permessage-deflate; server_max_window_bits=16",
		"permessage-deflate; server_max_window_bits=08",
		"permessage-deflate; client_max_window_bits=7",
		"permessage-deflate; server_no_context_takeover=1",
		"permessage-deflate; mystery",
		"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
		"permessage-deflate; client_max_window_bits; client_max_window_bits=10",
		"permessage-deflate; server_max_window_bits=\"10",	/* unterminated quote */
	};
	char a[DEFLATE_ANSWER_MAX];
	int bits;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ_INT(nego(bad[i], a, &bits), 0);
		if (nego(bad[i], a, &bits))
			printf("  accepted: %s\n", bad[i]);
	}
}

static void
deflate_takes_first_acceptable_offer(void)
{
	char a[DEFLATE_ANSWER_MAX];
	int bits;

	CHECK_EQ_INT(nego("permessage-deflate; server_max_window_bits=8, permessage-deflate; "
			  "server_max_window_bits=11, permessage-deflate", a, &bits), 1);
	CHECK_EQ_INT(bits, 11);
	CHECK_EQ_INT(nego("foo; bar=1, permessage-deflate", a, &bits), 1);
	CHECK_EQ_INT(bits, 15);
}

/* Inflates a compressed wire frame's payload with zlib directly. */
static size_t
zlib_inflate_frame(const unsigned char *w, size_t wl, int bits, char *out, size_t cap)
{
	size_t hl = (w[1] & 0x7f) == 126 ? 4 : (w[1] & 0x7f) == 127 ? 10 : 2;
	unsigned char buf[70000];
	z_stream zs;

	memcpy(buf, w + hl, wl - hl);
	memcpy(buf + wl - hl, "\0\0\xff\xff", 4);
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, -bits) != Z_OK)
		return 0;
	zs.next_in = buf;
	zs.avail_in = (uInt)(wl - hl + 4);
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)cap;
	inflate(&zs, Z_SYNC_FLUSH);
	inflateEnd(&zs);
	return cap - zs.avail_out;
}

static struct frame *
flow_frame(size_t approx)
{
	char payload[8192];
	size_t n = 0;

	n += (size_t)snprintf(payload + n, sizeof(payload) - n, "[");
	while (n < approx)
		n += (size_t)snprintf(payload + n, sizeof(payload) - n,
				      "{\"ticker\":\"SPY\",\"type\":\"call\",\"strike\":\"%zu\",\"total_premium\":\"36466\"},", n);
	payload[n - 1] = ']';
	return envelope_data("flow-alerts", 11, 9, "9f2c4a1be07d3e55", 0, payload, n);
}

static void
deflate_frame_compressed_once_and_shared(void)
{
	struct deflater d = { 0 };
	struct frame *f = flow_frame(1000);
	char out[8192];
	size_t wl, wl2, n;
	const unsigned char *w = deflate_frame_wire(&d, f, 256, 15, &wl);

	CHECK(w == f->z);
	CHECK_EQ_UINT(w[0], 0xc1);	/* FIN, RSV1, text */
	CHECK(wl < f->len / 2);
	n = zlib_inflate_frame(w, wl, 15, out, sizeof(out));
	CHECK_MEM(out, n, (const char *)frame_data(f), f->len);
	CHECK(deflate_frame_wire(&d, f, 256, 15, &wl2) == w);
	CHECK_EQ_UINT(wl2, wl);
	/* a client reading with a 1 KiB window cannot take it: plain */
	CHECK(deflate_frame_wire(&d, f, 256, 10, &wl2) == frame_wire(f));
	CHECK(deflate_frame_wire(&d, f, 256, 11, &wl2) == w);
	n = zlib_inflate_frame(w, wl, 11, out, sizeof(out));
	CHECK_MEM(out, n, (const char *)frame_data(f), f->len);
	frame_unref(f);
	deflate_free(&d);
}

static void
deflate_small_or_incompressible_frames_go_plain(void)
{
	struct deflater d = { 0 };
	struct frame *f = flow_frame(100), *g;
	unsigned char rnd[600];
	size_t wl;
	uint32_t x = 12345;

	CHECK(deflate_frame_wire(&d, f, 256, 15, &wl) == frame_wire(f));
	CHECK_EQ_INT(f->z_state, FRAME_Z_PLAIN);
	CHECK(f->z == NULL);
	for (size_t i = 0; i < sizeof(rnd); i++) {
		x = x * 1103515245 + 12345;
		rnd[i] = (unsigned char)('!' + (x >> 16) % 90);
	}
	g = envelope_data("x", 1, 1, "9f2c4a1be07d3e55", 0, (const char *)rnd, sizeof(rnd));
	CHECK(deflate_frame_wire(&d, g, 0, 15, &wl) != NULL);
	/* random printable bytes shrink a little (7 bits of 8), so either
	 * form is fine, but whatever is sent must read back */
	if (g->z_state == FRAME_Z_BUILT) {
		char out[2048];
		size_t n = zlib_inflate_frame(g->z, g->z_len, 15, out, sizeof(out));

		CHECK_MEM(out, n, (const char *)frame_data(g), g->len);
	}
	frame_unref(f);
	frame_unref(g);
	deflate_free(&d);
}

/* Compresses in as a client would (raw deflate, sync flush, tail dropped). */
static size_t
client_compress(const void *in, size_t n, unsigned char *out, size_t cap)
{
	z_stream zs;
	size_t len;

	memset(&zs, 0, sizeof(zs));
	deflateInit2(&zs, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	deflate(&zs, Z_SYNC_FLUSH);
	len = cap - zs.avail_out - 4;
	deflateEnd(&zs);
	return len;
}

static void
deflate_inflate_round_trip_and_limits(void)
{
	const char *msg = "{\"action\":\"subscribe\",\"channel\":\"option_trades:TSLA\"}";
	unsigned char z[64 * 1024], *out = NULL;
	size_t zl = client_compress(msg, strlen(msg), z, sizeof(z));
	long n = deflate_inflate(z, zl, 4096, &out);

	CHECK_EQ_INT(n, (long)strlen(msg));
	CHECK_MEM((const char *)out, (size_t)n, msg, strlen(msg));
	free(out);
	/* exactly max is fine, one byte more is not */
	CHECK_EQ_INT(deflate_inflate(z, zl, strlen(msg), &out), (long)strlen(msg));
	free(out);
	CHECK_EQ_INT(deflate_inflate(z, zl, strlen(msg) - 1, &out), -2);
	CHECK(out == NULL);
	/* not deflate */
	CHECK_EQ_INT(deflate_inflate("\xff\xff\xff\xff", 4, 4096, &out), -1);
	CHECK(out == NULL);
}

static void
deflate_zip_bomb_stops_at_max(void)
{
	size_t big = 64u << 20;	/* 64 MiB of zeros: ~64 KB compressed */
	unsigned char *zeros = calloc(1, big), *z = malloc(1u << 20), *out = NULL;
	size_t zl = client_compress(zeros, big, z, 1u << 20);

	CHECK(zl < 100000);
	CHECK_EQ_INT(deflate_inflate(z, zl, 4096, &out), -2);
	CHECK(out == NULL);
	free(zeros);
	free(z);
}

static void
deflate_no_frame_left_alive(void)
{
	CHECK_EQ_UINT(frame_live_count(), 0);
	CHECK_NO_LEAKS();
}

CHECK_MAIN(
	CHECK_TEST(deflate_accepts_browser_offers),
	CHECK_TEST(deflate_declines_what_it_cannot_honour),
	CHECK_TEST(deflate_takes_first_acceptable_offer),
	CHECK_TEST(deflate_frame_compressed_once_and_shared),
	CHECK_TEST(deflate_small_or_incompressible_frames_go_plain),
	CHECK_TEST(deflate_inflate_round_trip_and_limits),
	CHECK_TEST(deflate_zip_bomb_stops_at_max),
	CHECK_TEST(deflate_no_frame_left_alive))
