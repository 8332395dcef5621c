/* test_wsframe.c: RFC 6455 framing, both sides: frames parsed from reads
 * cut anywhere (a server's in client mode, a browser's masked ones in
 * server mode), control frames, errors with their close codes, frames
 * built for either side, and the opening handshake from both ends. */
#include "httpreq.h"
#include "wsframe.h"
#include "check.h"

/* A server frame (unmasked) into out; returns its length. */
static size_t
srv_frame(uint8_t *out, int fin, unsigned op, const void *payload, size_t len)
{
	size_t h = 2;

	out[0] = (uint8_t)((fin ? 0x80 : 0) | op);
	if (len < 126)
		out[1] = (uint8_t)len;
	else if (len <= 65535) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		h = 4;
	} else {
		out[1] = 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
		h = 10;
	}
	if (len)
		memcpy(out + h, payload, len);
	return h + len;
}

/* What a run of events looked like, as text: "M:hello|P:|C:1000:bye|" */
struct log {
	char s[1 << 16];
	size_t n;
};

static void
log_ev(struct log *l, const struct wsf_ev *ev)
{
	const char *tag = "?";
	int n;

	switch (ev->type) {
	case WSF_MESSAGE: tag = ev->binary ? "B" : "M"; break;
	case WSF_OVERSIZE: tag = "O"; break;
	case WSF_PING: tag = "P"; break;
	case WSF_PONG: tag = "Q"; break;
	case WSF_CLOSE: tag = "C"; break;
	case WSF_ERROR: tag = "E"; break;
	case WSF_NEED_MORE: return;
	}
	if (ev->type == WSF_CLOSE || ev->type == WSF_ERROR)
		n = snprintf(l->s + l->n, sizeof(l->s) - l->n, "%s%u:", tag, ev->code);
	else if (ev->type == WSF_OVERSIZE)
		n = snprintf(l->s + l->n, sizeof(l->s) - l->n, "%s%zu", tag, ev->len);
	else
		n = snprintf(l->s + l->n, sizeof(l->s) - l->n, "%s:", tag);
	l->n += (size_t)n;
	if (ev->type != WSF_ERROR && ev->type != WSF_OVERSIZE && ev->len < 200) {
		memcpy(l->s + l->n, ev->data, ev->len);
		l->n += ev->len;
	}
	l->s[l->n++] = '|';
	l->s[l->n] = '\0';
}

/* Feeds buf to a fresh parser (server mode if `server`) in reads of
 * `step` bytes (0: one read), each read in its own exact-size heap copy so
 * ASan catches any access outside it; returns the event log. Stops at an
 * error or close. */
static void
feed_mode(const uint8_t *buf, size_t len, size_t step, size_t max, struct log *l, int server)
{
	struct wsf_rx rx;
	struct wsf_ev ev;
	size_t off = 0;
	int stop = 0;

	l->n = 0;
	l->s[0] = '\0';
	if (server)
		wsf_rx_init_server(&rx, max);
	else
		wsf_rx_init(&rx, max);
	while (off < len && !stop) {
		size_t k = step && len - off > step ? step : len - off, used = 0;
		char *c = malloc(k);

		memcpy(c, buf + off, k);
		while (used < k || !used) {
			size_t n = wsf_rx_next(&rx, c + used, k - used, &ev);

			used += n;
			log_ev(l, &ev);
			if (ev.type == WSF_ERROR || ev.type == WSF_CLOSE) {
				stop = 1;
				break;
			}
			if (ev.type == WSF_NEED_MORE)
				break;
		}
		free(c);
		off += k;
	}
	wsf_rx_free(&rx);
}

static void
feed(const uint8_t *buf, size_t len, size_t step, size_t max, struct log *l)
{
	feed_mode(buf, len, step, max, l, 0);
}

/* The same stream must give the same events however it is cut. */
static void
check_all_cuts_mode(const uint8_t *buf, size_t len, size_t max, const char *want, int server)
{
	struct log *l = malloc(sizeof(*l));

	for (size_t step = 0; step <= len; step++) {
		feed_mode(buf, len, step, max, l, server);
		if (strcmp(l->s, want)) {
			printf("  read size %zu:\n", step);
			CHECK_STR(l->s, want);
			break;
		}
	}
	free(l);
}

static void
check_all_cuts(const uint8_t *buf, size_t len, size_t max, const char *want)
{
	check_all_cuts_mode(buf, len, max, want, 0);
}

static void
wsframe_single_text_in_place(void)
{
	uint8_t b[64];
	size_t n = srv_frame(b, 1, WSF_OP_TEXT, "hello", 5);
	struct wsf_rx rx;
	struct wsf_ev ev;

	wsf_rx_init(&rx, 1000);
	CHECK_EQ_UINT(wsf_rx_next(&rx, (const char *)b, n, &ev), n);
	CHECK_EQ_INT(ev.type, WSF_MESSAGE);
	CHECK_EQ_INT(ev.binary, 0);
	CHECK_MEM(ev.data, ev.len, "hello", 5);
	/* no copy: the payload is where it was read */
	CHECK(ev.data == (const char *)b + 2);
	CHECK(rx.buf == NULL);
	CHECK_EQ_UINT(wsf_rx_next(&rx, (const char *)b + n, 0, &ev), 0);
	CHECK_EQ_INT(ev.type, WSF_NEED_MORE);
	wsf_rx_free(&rx);
}

static void
wsframe_many_frames_one_read_every_cut(void)
{
	uint8_t b[4096];
	size_t n = 0;

	n += srv_frame(b + n, 1, WSF_OP_TEXT, "one", 3);
	n += srv_frame(b + n, 1, WSF_OP_TEXT, "", 0);
	n += srv_frame(b + n, 1, WSF_OP_PING, "pp", 2);
	n += srv_frame(b + n, 1, WSF_OP_BINARY, "\x01\x02", 2);
	n += srv_frame(b + n, 1, WSF_OP_PONG, "", 0);
	n += srv_frame(b + n, 1, WSF_OP_TEXT, "two", 3);
	check_all_cuts(b, n, 1000, "M:one|M:|P:pp|B:\x01\x02|Q:|M:two|");
}

static void
wsframe_lengths_7_16_64(void)
{
	static uint8_t b[70000 * 2 + 64];
	static char p16[300], p64[70000];
	size_t n = 0;
	struct log *l = malloc(sizeof(*l));
	struct wsf_rx rx;
	struct wsf_ev ev;

	memset(p16, 'a', sizeof(p16));
	memset(p64, 'b', sizeof(p64));
	n += srv_frame(b + n, 1, WSF_OP_TEXT, p16, sizeof(p16));
	CHECK_EQ_UINT(b[1], 126);
	n += srv_frame(b + n, 1, WSF_OP_TEXT, p64, sizeof(p64));
	CHECK_EQ_UINT(b[sizeof(p16) + 4 + 1], 127);
	n += srv_frame(b + n, 1, WSF_OP_TEXT, "x", 1);
	wsf_rx_init(&rx, 100000);
	{
		size_t used = wsf_rx_next(&rx, (const char *)b, n, &ev);

		CHECK_EQ_INT(ev.type, WSF_MESSAGE);
		CHECK_EQ_UINT(ev.len, sizeof(p16));
		used += wsf_rx_next(&rx, (const char *)b + used, n - used, &ev);
		CHECK_EQ_INT(ev.type, WSF_MESSAGE);
		CHECK_EQ_UINT(ev.len, sizeof(p64));
		CHECK(ev.data[0] == 'b' && ev.data[sizeof(p64) - 1] == 'b');
		used += wsf_rx_next(&rx, (const char *)b + used, n - used, &ev);
		CHECK_MEM(ev.data, ev.len, "x", 1);
		CHECK_EQ_UINT(used, n);
	}
	wsf_rx_free(&rx);
	/* split reads of a 64-bit-length frame: every cut near the header,
	 * then big steps */
	for (size_t step = 1; step < 20; step++) {
		feed(b + sizeof(p16) + 4, sizeof(p64) + 10, step, 100000, l);
		CHECK_EQ_UINT(l->n, 3);	/* "M:" + '|' (payload too long to log) */
	}
	free(l);
}

static void
wsframe_fragments_with_control_interleaved(void)
{
	uint8_t b[256];
	size_t n = 0;

	n += srv_frame(b + n, 0, WSF_OP_TEXT, "hel", 3);
	n += srv_frame(b + n, 1, WSF_OP_PING, "x", 1);
	n += srv_frame(b + n, 0, WSF_OP_CONT, "", 0);
	n += srv_frame(b + n, 0, WSF_OP_CONT, "lo ", 3);
	n += srv_frame(b + n, 1, WSF_OP_PONG, "y", 1);
	n += srv_frame(b + n, 1, WSF_OP_CONT, "world", 5);
	n += srv_frame(b + n, 1, WSF_OP_TEXT, "after", 5);
	check_all_cuts(b, n, 1000, "P:x|Q:y|M:hello world|M:after|");
}

static void
wsframe_empty_final_continuation(void)
{
	uint8_t b[64];
	size_t n = 0;

	n += srv_frame(b + n, 0, WSF_OP_TEXT, "abc", 3);
	n += srv_frame(b + n, 1, WSF_OP_CONT, "", 0);
	check_all_cuts(b, n, 1000, "M:abc|");
}

static void
wsframe_oversize_skipped_then_next_message(void)
{
	static uint8_t b[8192];
	static char big[3000];
	size_t n = 0;

	memset(big, 'z', sizeof(big));
	n += srv_frame(b + n, 1, WSF_OP_TEXT, "ok", 2);
	n += srv_frame(b + n, 1, WSF_OP_TEXT, big, sizeof(big));	/* one frame over */
	n += srv_frame(b + n, 1, WSF_OP_TEXT, big, 1000);		/* exactly at the limit */
	n += srv_frame(b + n, 0, WSF_OP_TEXT, big, 600);		/* fragments adding up over */
	n += srv_frame(b + n, 1, WSF_OP_PING, "", 0);
	n += srv_frame(b + n, 1, WSF_OP_CONT, big, 600);
	n += srv_frame(b + n, 1, WSF_OP_BINARY, "k", 1);
	{
		struct log *l = malloc(sizeof(*l));

		for (size_t step = 0; step < 40; step++) {
			feed(b, n, step, 1000, l);
			/* "M:" for the 1000 bytes: the log skips payloads >= 200 */
			if (strcmp(l->s, "M:ok|O3000|M:|P:|O1200|B:k|"))
				break;
		}
		CHECK_STR(l->s, "M:ok|O3000|M:|P:|O1200|B:k|");
		free(l);
	}
}

static void
wsframe_close_with_code_and_reason(void)
{
	uint8_t b[64];
	size_t n = srv_frame(b, 1, WSF_OP_CLOSE, "\x03\xe9going", 7);

	check_all_cuts(b, n, 1000, "C1001:going|");
	n = srv_frame(b, 1, WSF_OP_CLOSE, "", 0);
	check_all_cuts(b, n, 1000, "C1005:|");
	n = srv_frame(b, 1, WSF_OP_CLOSE, "\x0f\xa0", 2);	/* 4000: an application code */
	check_all_cuts(b, n, 1000, "C4000:|");
	n = srv_frame(b, 1, WSF_OP_CLOSE, "\x03\xf4", 2);	/* 1012: service restart */
	check_all_cuts(b, n, 1000, "C1012:|");
}

static void
wsframe_protocol_errors(void)
{
	struct {
		const char *name;
		uint8_t bytes[16];
		size_t len;
		unsigned code;
	} cases[] = {
		{ "rsv1", { 0xc1, 0x00 }, 2, 1002 },
		{ "rsv3", { 0x91, 0x00 }, 2, 1002 },
		{ "masked", { 0x81, 0x81, 1, 2, 3, 4, 'x' }, 7, 1002 },
		{ "opcode 3", { 0x83, 0x00 }, 2, 1002 },
		{ "opcode 0xb", { 0x8b, 0x00 }, 2, 1002 },
		{ "continuation first", { 0x80, 0x01, 'x' }, 3, 1002 },
		{ "fragmented ping", { 0x09, 0x00 }, 2, 1002 },
		{ "ping over 125", { 0x89, 0x7e, 0x00, 0x7e }, 4, 1002 },
		{ "64-bit top bit", { 0x81, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0 }, 10, 1002 },
		{ "close 1 byte", { 0x88, 0x01, 0x03 }, 3, 1002 },
		{ "close code 1005", { 0x88, 0x02, 0x03, 0xed }, 4, 1002 },
		{ "close code 999", { 0x88, 0x02, 0x03, 0xe7 }, 4, 1002 },
		{ "close code 2000", { 0x88, 0x02, 0x07, 0xd0 }, 4, 1002 },
		{ "close reason not utf-8", { 0x88, 0x03, 0x03, 0xe8, 0xff }, 5, 1007 },
		{ "text not utf-8", { 0x81, 0x02, 0xc3, 0x28 }, 4, 1007 },
		{ "new message inside one", { 0x01, 0x01, 'a', 0x81, 0x01, 'b' }, 6, 1002 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char want[32];
		struct log *l = malloc(sizeof(*l));

		snprintf(want, sizeof(want), "E%u:|", cases[i].code);
		for (size_t step = 0; step <= cases[i].len; step++) {
			feed(cases[i].bytes, cases[i].len, step, 1000, l);
			if (strcmp(l->s, want)) {
				printf("  case %s, read size %zu\n", cases[i].name, step);
				CHECK_STR(l->s, want);
				break;
			}
		}
		free(l);
	}
}

static void
wsframe_dead_after_error(void)
{
	struct wsf_rx rx;
	struct wsf_ev ev;
	const char bad[] = { (char)0xc1, 0x00, (char)0x81, 0x00 };

	wsf_rx_init(&rx, 100);
	wsf_rx_next(&rx, bad, sizeof(bad), &ev);
	CHECK_EQ_INT(ev.type, WSF_ERROR);
	CHECK(ev.error != NULL);
	CHECK_EQ_UINT(wsf_rx_next(&rx, bad + 2, 2, &ev), 0);
	CHECK_EQ_INT(ev.type, WSF_ERROR);
	wsf_rx_free(&rx);
}

static void
wsframe_big_buffer_released(void)
{
	static uint8_t b[300000];
	static char big[200000];
	struct wsf_rx rx;
	struct wsf_ev ev;
	size_t n, used = 0;

	memset(big, 'q', sizeof(big));
	n = srv_frame(b, 0, WSF_OP_TEXT, big, sizeof(big));
	n += srv_frame(b + n, 1, WSF_OP_CONT, "!", 1);
	wsf_rx_init(&rx, 1 << 20);
	while (used < n) {
		size_t k = n - used > 5000 ? 5000 : n - used;

		used += wsf_rx_next(&rx, (const char *)b + used, k, &ev);
		if (ev.type == WSF_MESSAGE)
			break;
	}
	CHECK_EQ_INT(ev.type, WSF_MESSAGE);
	CHECK_EQ_UINT(ev.len, sizeof(big) + 1);
	CHECK(rx.buf_cap >= sizeof(big) + 1);
	/* the next call frees a buffer that big */
	wsf_rx_next(&rx, "", 0, &ev);
	CHECK(rx.buf == NULL);
	CHECK_EQ_UINT(rx.buf_cap, 0);
	wsf_rx_free(&rx);
}

static void
wsframe_utf8(void)
{
	CHECK(wsf_utf8_valid("", 0));
	CHECK(wsf_utf8_valid("plain ascii text, long enough for the block path", 48));
	CHECK(wsf_utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8b", 14));
	CHECK(!wsf_utf8_valid("\xc0\xaf", 2));		/* overlong */
	CHECK(!wsf_utf8_valid("\xe0\x80\xaf", 3));	/* overlong */
	CHECK(!wsf_utf8_valid("\xed\xa0\x80", 3));	/* surrogate */
	CHECK(!wsf_utf8_valid("\xf4\x90\x80\x80", 4));	/* past U+10FFFF */
	CHECK(!wsf_utf8_valid("\xe2\x82", 2));		/* truncated */
	CHECK(!wsf_utf8_valid("0123456789abcdef0123456789\xff", 27));
	CHECK(wsf_utf8_valid("0123456789abcdef01234567\xc3\xa9", 26));
}

static void
wsframe_build_masked(void)
{
	uint8_t out[70100], mask[4] = { 0x11, 0x22, 0x33, 0x44 };
	static char big[70000];
	size_t n;

	n = wsf_build(out, sizeof(out), WSF_OP_TEXT, "Hi", 2, mask);
	CHECK_EQ_UINT(n, 8);
	CHECK_EQ_UINT(out[0], 0x81);
	CHECK_EQ_UINT(out[1], 0x82);
	CHECK(!memcmp(out + 2, mask, 4));
	CHECK_EQ_UINT(out[6], 'H' ^ 0x11);
	CHECK_EQ_UINT(out[7], 'i' ^ 0x22);
	n = wsf_build(out, sizeof(out), WSF_OP_PING, NULL, 0, mask);
	CHECK_EQ_UINT(n, 6);
	CHECK_EQ_UINT(out[0], 0x89);
	CHECK_EQ_UINT(out[1], 0x80);
	n = wsf_build(out, sizeof(out), WSF_OP_TEXT, big, 300, mask);
	CHECK_EQ_UINT(n, 4 + 4 + 300);
	CHECK_EQ_UINT(out[1], 0x80 | 126);
	n = wsf_build(out, sizeof(out), WSF_OP_BINARY, big, sizeof(big), mask);
	CHECK_EQ_UINT(n, 10 + 4 + sizeof(big));
	CHECK_EQ_UINT(out[1], 0x80 | 127);
	CHECK_EQ_UINT(wsf_build(out, sizeof(out), WSF_OP_PONG, big, 126, mask), 0);
	CHECK_EQ_UINT(wsf_build(out, 7, WSF_OP_TEXT, "Hi", 2, mask), 0);
	/* what the builder writes a server-side reader unmasks back */
	n = wsf_build(out, sizeof(out), WSF_OP_CLOSE, "\x03\xe9", 2, mask);
	CHECK_EQ_UINT((out[6] ^ 0x11), 0x03);
	CHECK_EQ_UINT((out[7] ^ 0x22), 0xe9);
}

static void
wsframe_accept_rfc_example(void)
{
	char acc[29], key[25];
	const uint8_t nonce[16] = "the sample nonce";

	/* RFC 6455 1.3 */
	wsf_accept_for("dGhlIHNhbXBsZSBub25jZQ==", acc);
	CHECK_STR(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	wsf_key(nonce, key);
	CHECK_STR(key, "dGhlIHNhbXBsZSBub25jZQ==");
}

static void
wsframe_request_text(void)
{
	char out[1024];
	size_t n = wsf_request(out, sizeof(out), "api.example.com", 443, 1, "/socket?token=S3CRET",
			       "dGhlIHNhbXBsZSBub25jZQ==", "uwrelay/0");

	CHECK(n == strlen(out));
	CHECK_CONTAINS(out, "GET /socket?token=S3CRET HTTP/1.1\r\n");
	CHECK_CONTAINS(out, "\r\nHost: api.example.com\r\n");
	CHECK_CONTAINS(out, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
	CHECK_CONTAINS(out, "\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n");
	CHECK_CONTAINS(out, "\r\nSec-WebSocket-Version: 13\r\n");
	CHECK_CONTAINS(out, "\r\nUser-Agent: uwrelay/0\r\n\r\n");
	n = wsf_request(out, sizeof(out), "127.0.0.1", 8765, 0, "/socket", "k", "ua");
	CHECK_CONTAINS(out, "\r\nHost: 127.0.0.1:8765\r\n");
	n = wsf_request(out, sizeof(out), "::1", 80, 0, "/", "k", "ua");
	CHECK_CONTAINS(out, "\r\nHost: [::1]\r\n");
	CHECK_EQ_UINT(wsf_request(out, 40, "h", 80, 0, "/", "k", "ua"), 0);
}

static void
wsframe_response_101(void)
{
	const char *ok = "HTTP/1.1 101 Switching Protocols\r\n"
			 "upgrade: WebSocket\r\n"
			 "Connection: keep-alive, Upgrade\r\n"
			 "Sec-WebSocket-Accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo= \r\n"
			 "\r\n\x81\x02hi";
	struct wsf_response r;
	const char *why = NULL;
	size_t hl = strlen(ok) - 4;

	for (size_t n = 0; n < hl; n++)
		CHECK_EQ_INT(wsf_response_parse(ok, n, &r), 0);
	CHECK_EQ_INT(wsf_response_parse(ok, strlen(ok), &r), (long)hl);
	CHECK_EQ_INT(r.status, 101);
	CHECK_EQ_INT(wsf_response_check(&r, "dGhlIHNhbXBsZSBub25jZQ==", &why), 0);
	CHECK_EQ_INT(wsf_response_check(&r, "AAAAAAAAAAAAAAAAAAAAAA==", &why), -1);
	CHECK_CONTAINS(why, "Accept");
}

static void
wsframe_response_refusals(void)
{
	const char *u = "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\n"
			"Content-Length: 69\r\nConnection: close\r\n\r\nYour token";
	struct wsf_response r;
	const char *why = NULL;

	CHECK(wsf_response_parse(u, strlen(u), &r) > 0);
	CHECK_EQ_INT(r.status, 401);
	CHECK_EQ_INT((int)r.content_length, 69);
	CHECK_EQ_INT(wsf_response_check(&r, "x", &why), -1);
	CHECK_EQ_INT(wsf_response_parse("SSH-2.0-OpenSSH\r\n", 17, &r), -1);
	CHECK_EQ_INT(wsf_response_parse("HTTP/1.1 abc\r\n\r\n", 16, &r), -1);
	CHECK_EQ_INT(wsf_response_parse("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", 29, &r), -1);
	CHECK_EQ_INT(wsf_response_parse("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", 39, &r), -1);
	CHECK(wsf_response_parse("HTTP/1.1 101 X\r\nUpgrade: websocket\r\n\r\n", 38, &r) > 0);
	CHECK_EQ_INT(wsf_response_check(&r, "x", &why), -1);
	CHECK_CONTAINS(why, "Connection");
	u = "HTTP/1.1 101 X\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
	    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	    "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
	CHECK(wsf_response_parse(u, strlen(u), &r) > 0);
	CHECK_EQ_INT(wsf_response_check(&r, "dGhlIHNhbXBsZSBub25jZQ==", &why), -1);
	CHECK_CONTAINS(why, "extension");
}

/* --- server mode: a browser's frames, masked --- */

/* A client frame (masked with mask) into out; returns its length. */
static size_t
cli_frame(uint8_t *out, int fin, unsigned op, const void *payload, size_t len,
	  const uint8_t mask[4])
{
	const uint8_t *p = payload;
	size_t h = 2;

	out[0] = (uint8_t)((fin ? 0x80 : 0) | op);
	if (len < 126)
		out[1] = (uint8_t)(0x80 | len);
	else if (len <= 65535) {
		out[1] = 0x80 | 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		h = 4;
	} else {
		out[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
		h = 10;
	}
	memcpy(out + h, mask, 4);
	h += 4;
	for (size_t i = 0; i < len; i++)
		out[h + i] = p[i] ^ mask[i & 3];
	return h + len;
}

static const uint8_t MASK_A[4] = { 0x37, 0xfa, 0x21, 0x3d };
static const uint8_t MASK_B[4] = { 0x01, 0x80, 0xff, 0x5a };

/* buf (one client frame of `payload`) read as two reads cut at `cut`, or
 * in reads of `step` bytes when cut is SIZE_MAX: exactly one binary
 * message equal to payload, and every byte consumed. */
static int
server_reads_back(const uint8_t *buf, size_t n, size_t cut, size_t step, const uint8_t *payload,
		  size_t plen)
{
	struct wsf_rx rx;
	struct wsf_ev ev;
	size_t off = 0;
	int messages = 0, ok = 1;

	wsf_rx_init_server(&rx, 1 << 20);
	while (off < n) {
		size_t k = cut != SIZE_MAX ? (off < cut ? cut - off : n - off)
					   : (n - off > step ? step : n - off), used = 0;
		char *c = malloc(k ? k : 1);

		memcpy(c, buf + off, k);
		do {
			used += wsf_rx_next(&rx, c + used, k - used, &ev);
			if (ev.type == WSF_MESSAGE) {
				messages++;
				ok &= ev.binary && ev.len == plen && !memcmp(ev.data, payload, plen);
				/* server mode never hands out the masked input */
				ok &= !(ev.data >= c && ev.data < c + k);
			} else if (ev.type != WSF_NEED_MORE)
				ok = 0;
		} while (used < k && ev.type != WSF_NEED_MORE);
		ok &= used == k;
		free(c);
		off += k;
	}
	wsf_rx_free(&rx);
	return ok && messages == 1;
}

static void
wsframe_server_masked_sizes_every_cut(void)
{
	static const size_t sizes[] = { 0, 1, 125, 126, 65535, 65536 };
	uint8_t *buf = malloc(65536 + 14), *pl = malloc(65536);

	/* bytes that differ at every position, so a mask phase off by one
	 * shows */
	for (size_t i = 0; i < 65536; i++)
		pl[i] = (uint8_t)(i * 131 + i / 256 + 7);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t len = sizes[s], n = cli_frame(buf, 1, WSF_OP_BINARY, pl, len, MASK_A);
		size_t bad_cut = SIZE_MAX, bad_step = 0;

		/* a single cut anywhere; for the big frames every cut in and near
		 * the header and the end, and a spread in between (each one a
		 * full copy of the frame: all 65k would take minutes) */
		for (size_t cut = 0; cut <= n && bad_cut == SIZE_MAX; cut++) {
			if (n > 1000 && cut > 40 && cut < n - 40 && cut % 997)
				continue;
			if (!server_reads_back(buf, n, cut, 0, pl, len))
				bad_cut = cut;
		}
		/* reads of every size up to 40 bytes, then a few big ones */
		for (size_t step = 1; step <= n + 1 && !bad_step; step++) {
			if (step > 40 && step != 4093 && step != 65535 && step != n + 1)
				continue;
			if (!server_reads_back(buf, n, SIZE_MAX, step, pl, len))
				bad_step = step;
		}
		if (bad_cut != SIZE_MAX || bad_step)
			printf("  payload %zu: cut %zu, read size %zu\n", len, bad_cut, bad_step);
		CHECK(bad_cut == SIZE_MAX);
		CHECK_EQ_UINT(bad_step, 0);
	}
	free(buf);
	free(pl);
}

static void
wsframe_server_text_and_control_every_cut(void)
{
	uint8_t b[512];
	size_t n = 0;

	n += cli_frame(b + n, 1, WSF_OP_TEXT, "hello", 5, MASK_A);
	n += cli_frame(b + n, 1, WSF_OP_PING, "ping!", 5, MASK_B);
	n += cli_frame(b + n, 1, WSF_OP_TEXT, "", 0, MASK_B);
	n += cli_frame(b + n, 1, WSF_OP_PONG, "", 0, MASK_A);
	n += cli_frame(b + n, 1, WSF_OP_TEXT, "caf\xc3\xa9", 5, MASK_B);
	check_all_cuts_mode(b, n, 1000, "M:hello|P:ping!|M:|Q:|M:caf\xc3\xa9|", 1);
}

static void
wsframe_server_ping_between_fragments(void)
{
	uint8_t b[512];
	size_t n = 0;

	/* each fragment with its own mask: the phase restarts per frame */
	n += cli_frame(b + n, 0, WSF_OP_TEXT, "hel", 3, MASK_A);
	n += cli_frame(b + n, 1, WSF_OP_PING, "abcdefg", 7, MASK_B);
	n += cli_frame(b + n, 0, WSF_OP_CONT, "", 0, MASK_B);
	n += cli_frame(b + n, 0, WSF_OP_CONT, "lo w", 4, MASK_B);
	n += cli_frame(b + n, 1, WSF_OP_PONG, "y", 1, MASK_A);
	n += cli_frame(b + n, 1, WSF_OP_CONT, "orld", 4, MASK_A);
	n += cli_frame(b + n, 1, WSF_OP_BINARY, "\x00\x01", 2, MASK_B);
	check_all_cuts_mode(b, n, 1000, "P:abcdefg|Q:y|M:hello world|B:\x00\x01|", 1);
}

static void
wsframe_server_close_with_and_without_code(void)
{
	uint8_t b[256];
	size_t n;

	n = cli_frame(b, 1, WSF_OP_CLOSE, "\x03\xe8" "bye", 5, MASK_A);
	check_all_cuts_mode(b, n, 1000, "C1000:bye|", 1);
	n = cli_frame(b, 1, WSF_OP_CLOSE, "", 0, MASK_A);
	check_all_cuts_mode(b, n, 1000, "C1005:|", 1);
	n = cli_frame(b, 1, WSF_OP_CLOSE, "\x03\xe9", 2, MASK_B);
	check_all_cuts_mode(b, n, 1000, "C1001:|", 1);
	n = cli_frame(b, 1, WSF_OP_CLOSE, "\x11\x94", 2, MASK_B);	/* 4500 */
	check_all_cuts_mode(b, n, 1000, "C4500:|", 1);
	/* a reason of the full 123 bytes */
	{
		char p[125], want[200];

		p[0] = 0x03;
		p[1] = (char)0xe8;
		memset(p + 2, 'r', 123);
		n = cli_frame(b, 1, WSF_OP_CLOSE, p, sizeof(p), MASK_B);
		snprintf(want, sizeof(want), "C1000:%.123s|", p + 2);
		check_all_cuts_mode(b, n, 1000, want, 1);
	}
}

static void
wsframe_server_invalid_close_codes(void)
{
	static const unsigned bad[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999,
					5000, 65535 };
	static const unsigned good[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
					 3000, 3999, 4000, 4999 };
	uint8_t b[64];
	char p[2], want[32];
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p[0] = (char)(bad[i] >> 8);
		p[1] = (char)bad[i];
		n = cli_frame(b, 1, WSF_OP_CLOSE, p, 2, MASK_A);
		check_all_cuts_mode(b, n, 1000, "E1002:|", 1);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		p[0] = (char)(good[i] >> 8);
		p[1] = (char)good[i];
		n = cli_frame(b, 1, WSF_OP_CLOSE, p, 2, MASK_A);
		snprintf(want, sizeof(want), "C%u:|", good[i]);
		check_all_cuts_mode(b, n, 1000, want, 1);
	}
	n = cli_frame(b, 1, WSF_OP_CLOSE, "\x03", 1, MASK_A);
	check_all_cuts_mode(b, n, 1000, "E1002:|", 1);
	n = cli_frame(b, 1, WSF_OP_CLOSE, "\x03\xe8\xc3\x28", 4, MASK_A);
	check_all_cuts_mode(b, n, 1000, "E1007:|", 1);
}

static void
wsframe_server_unmasked_is_1002(void)
{
	static const struct {
		const char *name;
		uint8_t bytes[8];
		size_t len;
	} cases[] = {
		{ "text", { 0x81, 0x02, 'h', 'i' }, 4 },
		{ "empty binary", { 0x82, 0x00 }, 2 },
		{ "ping", { 0x89, 0x00 }, 2 },
		{ "pong", { 0x8a, 0x01, 'x' }, 3 },
		{ "close", { 0x88, 0x02, 0x03, 0xe8 }, 4 },
		{ "first fragment", { 0x01, 0x01, 'a' }, 3 },
	};
	uint8_t b[64];
	size_t n;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wsf_rx rx;
		struct wsf_ev ev;

		wsf_rx_init_server(&rx, 1000);
		wsf_rx_next(&rx, (const char *)cases[i].bytes, cases[i].len, &ev);
		if (ev.type != WSF_ERROR)
			printf("  case %s\n", cases[i].name);
		CHECK_EQ_INT(ev.type, WSF_ERROR);
		CHECK_EQ_UINT(ev.code, WSF_CLOSE_PROTOCOL);
		CHECK_STR(ev.error, "unmasked frame from a client");
		wsf_rx_free(&rx);
		check_all_cuts_mode(cases[i].bytes, cases[i].len, 1000, "E1002:|", 1);
	}
	/* a masked frame, then an unmasked continuation */
	n = cli_frame(b, 0, WSF_OP_TEXT, "ab", 2, MASK_A);
	b[n++] = 0x80;
	b[n++] = 0x01;
	b[n++] = 'c';
	check_all_cuts_mode(b, n, 1000, "E1002:|", 1);
	/* and the other way round: client mode still refuses a masked frame */
	n = cli_frame(b, 1, WSF_OP_TEXT, "ab", 2, MASK_A);
	check_all_cuts_mode(b, n, 1000, "E1002:|", 0);
}

static void
wsframe_server_same_rules_as_client(void)
{
	struct {
		const char *name;
		uint8_t fin, op;
		size_t len;
		unsigned code;
	} cases[] = {
		{ "ping over 125", 1, WSF_OP_PING, 126, 1002 },
		{ "fragmented close", 0, WSF_OP_CLOSE, 0, 1002 },
		{ "opcode 3", 1, 3, 0, 1002 },
		{ "opcode 0xf", 1, 0xf, 0, 1002 },
		{ "continuation first", 1, WSF_OP_CONT, 1, 1002 },
	};
	static uint8_t b[512], p[200];
	size_t n;

	memset(p, 'a', sizeof(p));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char want[32];

		n = cli_frame(b, cases[i].fin, cases[i].op, p, cases[i].len, MASK_A);
		snprintf(want, sizeof(want), "E%u:|", cases[i].code);
		check_all_cuts_mode(b, n, 1000, want, 1);
	}
	/* reserved bits */
	n = cli_frame(b, 1, WSF_OP_TEXT, "a", 1, MASK_A);
	b[0] |= 0x40;
	check_all_cuts_mode(b, n, 1000, "E1002:|", 1);
	/* text that is UTF-8 only once unmasked is fine; invalid once unmasked is 1007 */
	n = cli_frame(b, 1, WSF_OP_TEXT, "\xc3\x28", 2, MASK_A);
	check_all_cuts_mode(b, n, 1000, "E1007:|", 1);
	/* a new message inside a fragmented one */
	n = cli_frame(b, 0, WSF_OP_TEXT, "a", 1, MASK_A);
	n += cli_frame(b + n, 1, WSF_OP_TEXT, "b", 1, MASK_A);
	check_all_cuts_mode(b, n, 1000, "E1002:|", 1);
	/* oversize: skipped, the next message is read */
	n = cli_frame(b, 1, WSF_OP_TEXT, p, 101, MASK_A);
	n += cli_frame(b + n, 0, WSF_OP_TEXT, p, 60, MASK_B);
	n += cli_frame(b + n, 1, WSF_OP_PING, "", 0, MASK_B);
	n += cli_frame(b + n, 1, WSF_OP_CONT, p, 41, MASK_A);
	n += cli_frame(b + n, 1, WSF_OP_TEXT, p, 100, MASK_A);
	n += cli_frame(b + n, 1, WSF_OP_TEXT, "k", 1, MASK_B);
	{
		char want[300];

		snprintf(want, sizeof(want), "O101|P:|O101|M:%.100s|M:k|", (const char *)p);
		check_all_cuts_mode(b, n, 100, want, 1);
	}
}

/* A client's empty fragment counts as one byte towards max_message: a
 * message of endless empty fragments is oversize, not free. */
static void
wsframe_server_empty_fragments_count(void)
{
	static uint8_t b[2048];
	size_t n = cli_frame(b, 0, WSF_OP_TEXT, "", 0, MASK_A);

	for (int i = 0; i < 150; i++)
		n += cli_frame(b + n, 0, WSF_OP_CONT, "", 0, i % 2 ? MASK_A : MASK_B);
	n += cli_frame(b + n, 1, WSF_OP_CONT, "x", 1, MASK_B);
	check_all_cuts_mode(b, n, 1000, "M:x|", 1);
	check_all_cuts_mode(b, n, 100, "O152|", 1);
	/* an empty message is still one */
	n = cli_frame(b, 1, WSF_OP_BINARY, "", 0, MASK_A);
	check_all_cuts_mode(b, n, 100, "B:|", 1);
	/* the client side reads a server's empty fragments as before */
	n = srv_frame(b, 0, WSF_OP_TEXT, "", 0);
	for (int i = 0; i < 150; i++)
		n += srv_frame(b + n, 0, WSF_OP_CONT, "", 0);
	n += srv_frame(b + n, 1, WSF_OP_CONT, "x", 1);
	check_all_cuts_mode(b, n, 100, "M:x|", 0);
}

static void
wsframe_server_mode_survives_free(void)
{
	struct wsf_rx rx;
	struct wsf_ev ev;
	uint8_t b[32];
	size_t n = cli_frame(b, 1, WSF_OP_TEXT, "x", 1, MASK_A);

	wsf_rx_init_server(&rx, 100);
	wsf_rx_free(&rx);
	CHECK_EQ_UINT(wsf_rx_next(&rx, (const char *)b, n, &ev), n);
	CHECK_EQ_INT(ev.type, WSF_MESSAGE);
	CHECK_MEM(ev.data, ev.len, "x", 1);
	wsf_rx_free(&rx);
}

static void
wsframe_server_small_buffer(void)
{
	struct wsf_rx rx;
	struct wsf_ev ev;
	static uint8_t b[4096], p[2000];
	static const char sub[] = "{\"subscribe\":\"flow\"}";
	size_t n;

	memset(p, 'a', sizeof(p));
	wsf_rx_init_server(&rx, 1 << 20);
	n = cli_frame(b, 1, WSF_OP_TEXT, sub, sizeof(sub) - 1, MASK_A);
	CHECK_EQ_UINT(wsf_rx_next(&rx, (const char *)b, n, &ev), n);
	CHECK_MEM(ev.data, ev.len, sub, sizeof(sub) - 1);
	/* what a short message leaves with each connection */
	CHECK(rx.buf_cap <= 512);
	/* and a longer one still fits, grown as needed */
	n = cli_frame(b, 1, WSF_OP_TEXT, p, sizeof(p), MASK_B);
	CHECK_EQ_UINT(wsf_rx_next(&rx, (const char *)b, n, &ev), n);
	CHECK_EQ_INT(ev.type, WSF_MESSAGE);
	CHECK_MEM(ev.data, ev.len, p, sizeof(p));
	wsf_rx_free(&rx);
}

static void
wsframe_build_unmasked(void)
{
	static uint8_t out[70100];
	static char big[70000];
	size_t n;
	struct log *l = malloc(sizeof(*l));

	n = wsf_build(out, sizeof(out), WSF_OP_TEXT, "Hi", 2, NULL);
	CHECK_EQ_UINT(n, 4);
	CHECK_MEM(out, n, "\x81\x02Hi", 4);
	n = wsf_build(out, sizeof(out), WSF_OP_CLOSE, NULL, 0, NULL);
	CHECK_MEM(out, n, "\x88\x00", 2);
	n = wsf_build(out, sizeof(out), WSF_OP_TEXT, big, 125, NULL);
	CHECK_EQ_UINT(n, 127);
	CHECK_EQ_UINT(out[1], 125);
	n = wsf_build(out, sizeof(out), WSF_OP_TEXT, big, 126, NULL);
	CHECK_EQ_UINT(n, 4 + 126);
	CHECK_MEM(out, 4, "\x81\x7e\x00\x7e", 4);
	n = wsf_build(out, sizeof(out), WSF_OP_BINARY, big, 65535, NULL);
	CHECK_EQ_UINT(n, 4 + 65535);
	CHECK_MEM(out, 4, "\x82\x7e\xff\xff", 4);
	n = wsf_build(out, sizeof(out), WSF_OP_BINARY, big, 65536, NULL);
	CHECK_EQ_UINT(n, 10 + 65536);
	CHECK_MEM(out, 10, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
	/* exact capacity, and one byte short */
	CHECK_EQ_UINT(wsf_build(out, 4, WSF_OP_TEXT, "Hi", 2, NULL), 4);
	CHECK_EQ_UINT(wsf_build(out, 3, WSF_OP_TEXT, "Hi", 2, NULL), 0);
	CHECK_EQ_UINT(wsf_build(out, sizeof(out), WSF_OP_PING, big, 126, NULL), 0);
	/* what it writes, the client-side reader reads back */
	n = wsf_build(out, sizeof(out), WSF_OP_CLOSE, "\x03\xe9" "bye", 5, NULL);
	feed(out, n, 1, 1000, l);
	CHECK_STR(l->s, "C1001:bye|");
	/* and a masked build is what the server-side reader reads back */
	{
		const uint8_t m[4] = { 9, 8, 7, 6 };

		n = wsf_build(out, sizeof(out), WSF_OP_TEXT, "round trip", 10, m);
		feed_mode(out, n, 3, 1000, l, 1);
		CHECK_STR(l->s, "M:round trip|");
	}
	free(l);
}

/* --- server side of the opening handshake --- */

static const char *UPGRADE_OK =
	"GET /api/stream/ws/flow HTTP/1.1\r\n"
	"Host: 127.0.0.1:8080\r\n"
	"Upgrade: websocket\r\n"
	"Connection: Upgrade\r\n"
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	"Sec-WebSocket-Version: 13\r\n"
	"\r\n";

/* Parses head and runs wsf_upgrade_check; the status (or -1 if the head
 * does not parse). */
static int
upgrade(const char *head, char accept[29], const char **why)
{
	struct httpreq r;

	*why = NULL;
	if (httpreq_parse(head, strlen(head), 8192, &r) <= 0)
		return -1;
	return wsf_upgrade_check(&r, accept, why);
}

/* UPGRADE_OK with the line starting with `prefix` replaced by `line` (""
 * drops it). */
static char *
upgrade_with(const char *prefix, const char *line)
{
	char *s = malloc(1024);
	const char *at = strstr(UPGRADE_OK, prefix), *eol = strstr(at, "\r\n") + 2;

	snprintf(s, 1024, "%.*s%s%s", (int)(at - UPGRADE_OK), UPGRADE_OK, line, eol);
	return s;
}

static void
wsframe_upgrade_rfc_key(void)
{
	char acc[29];
	const char *why;

	CHECK_EQ_INT(upgrade(UPGRADE_OK, acc, &why), 0);
	/* RFC 6455 1.3 */
	CHECK_STR(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	/* case-insensitive tokens, lists, extra headers */
	CHECK_EQ_INT(upgrade("GET /x?a=1 HTTP/1.1\r\nhost: h\r\nUPGRADE: WebSocket\r\n"
			     "connection: keep-alive, upgrade\r\n"
			     "sec-websocket-key:   MDEyMzQ1Njc4OWFiY2RlZg==  \r\n"
			     "sec-websocket-version: 13\r\nOrigin: http://h\r\n"
			     "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n", acc, &why), 0);
	CHECK_EQ_UINT(strlen(acc), 28);
}

static void
wsframe_upgrade_refusals(void)
{
	static const struct {
		const char *name, *prefix, *line;
		int status;
		const char *why;
	} cases[] = {
		{ "key of 15 bytes", "Sec-WebSocket-Key", "Sec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2Rl\r\n",
		  400, "Sec-WebSocket-Key" },
		{ "key of 17 bytes", "Sec-WebSocket-Key",
		  "Sec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZmc=\r\n", 400, "Sec-WebSocket-Key" },
		{ "key not base64", "Sec-WebSocket-Key",
		  "Sec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2Rl*g==\r\n", 400, "Sec-WebSocket-Key" },
		{ "key without padding", "Sec-WebSocket-Key",
		  "Sec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZgAA\r\n", 400, "Sec-WebSocket-Key" },
		{ "no key", "Sec-WebSocket-Key", "", 400, "Sec-WebSocket-Key" },
		{ "key twice", "Sec-WebSocket-Key",
		  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", 400, "Sec-WebSocket-Key" },
		{ "version 8", "Sec-WebSocket-Version", "Sec-WebSocket-Version: 8\r\n", 426,
		  "Version" },
		{ "version 13, 8", "Sec-WebSocket-Version", "Sec-WebSocket-Version: 13, 8\r\n", 426,
		  "Version" },
		{ "no version", "Sec-WebSocket-Version", "", 400, "Version" },
		{ "version twice", "Sec-WebSocket-Version",
		  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13\r\n", 400, "Version" },
		{ "no Upgrade", "Upgrade", "", 400, "Upgrade" },
		{ "Upgrade: h2c", "Upgrade", "Upgrade: h2c\r\n", 400, "Upgrade" },
		{ "no Connection", "Connection", "", 400, "Connection" },
		{ "Connection: keep-alive", "Connection", "Connection: keep-alive\r\n", 400,
		  "Connection" },
		{ "POST", "GET", "POST /api/stream/ws/flow HTTP/1.1\r\n", 400, "GET" },
		{ "get", "GET", "get /api/stream/ws/flow HTTP/1.1\r\n", 400, "GET" },
		{ "HTTP/1.0", "GET", "GET /api/stream/ws/flow HTTP/1.0\r\n", 400, "HTTP/1.1" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *head = upgrade_with(cases[i].prefix, cases[i].line), acc[29];
		const char *why;
		int st = upgrade(head, acc, &why);

		if (st != cases[i].status || !why || !strstr(why, cases[i].why)) {
			printf("  case %s: %d, %s\n", cases[i].name, st, why ? why : "(null)");
			CHECK_EQ_INT(st, cases[i].status);
		}
		CHECK_STR(acc, "");
		free(head);
	}
}

static void
wsframe_teardown_clean(void)
{
	CHECK_NO_LEAKS();
}

CHECK_MAIN(
	CHECK_TEST(wsframe_single_text_in_place),
	CHECK_TEST(wsframe_many_frames_one_read_every_cut),
	CHECK_TEST(wsframe_lengths_7_16_64),
	CHECK_TEST(wsframe_fragments_with_control_interleaved),
	CHECK_TEST(wsframe_empty_final_continuation),
	CHECK_TEST(wsframe_oversize_skipped_then_next_message),
	CHECK_TEST(wsframe_close_with_code_and_reason),
	CHECK_TEST(wsframe_protocol_errors),
	CHECK_TEST(wsframe_dead_after_error),
	CHECK_TEST(wsframe_big_buffer_released),
	CHECK_TEST(wsframe_utf8),
	CHECK_TEST(wsframe_build_masked),
	CHECK_TEST(wsframe_accept_rfc_example),
	CHECK_TEST(wsframe_request_text),
	CHECK_TEST(wsframe_response_101),
	CHECK_TEST(wsframe_response_refusals),
	CHECK_TEST(wsframe_server_masked_sizes_every_cut),
	CHECK_TEST(wsframe_server_text_and_control_every_cut),
	CHECK_TEST(wsframe_server_ping_between_fragments),
	CHECK_TEST(wsframe_server_close_with_and_without_code),
	CHECK_TEST(wsframe_server_invalid_close_codes),
	CHECK_TEST(wsframe_server_unmasked_is_1002),
	CHECK_TEST(wsframe_server_same_rules_as_client),
	CHECK_TEST(wsframe_server_empty_fragments_count),
	CHECK_TEST(wsframe_server_mode_survives_free),
	CHECK_TEST(wsframe_server_small_buffer),
	CHECK_TEST(wsframe_build_unmasked),
	CHECK_TEST(wsframe_upgrade_rfc_key),
	CHECK_TEST(wsframe_upgrade_refusals),
	CHECK_TEST(wsframe_teardown_clean))
