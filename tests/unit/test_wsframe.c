/* test_wsframe.c: RFC 6455 client framing: server frames parsed from reads
 * cut anywhere, control frames, errors with their close codes, masked
 * client frames, and the opening handshake. */
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

/* Feeds buf to a fresh parser in reads of `step` bytes (0: one read),
 * each read in its own exact-size heap copy so ASan catches any access
 * outside it; returns the event log. Stops at an error or close. */
static void
feed(const uint8_t *buf, size_t len, size_t step, size_t max, struct log *l)
{
	struct wsf_rx rx;
	struct wsf_ev ev;
	size_t off = 0;
	int stop = 0;

	l->n = 0;
	l->s[0] = '\0';
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

/* The same stream must give the same events however it is cut. */
static void
check_all_cuts(const uint8_t *buf, size_t len, size_t max, const char *want)
{
	struct log *l = malloc(sizeof(*l));

	for (size_t step = 0; step <= len; step++) {
		feed(buf, len, step, max, l);
		if (strcmp(l->s, want)) {
			printf("  read size %zu:\n", step);
			CHECK_STR(l->s, want);
			break;
		}
	}
	free(l);
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
	CHECK_TEST(wsframe_teardown_clean))
