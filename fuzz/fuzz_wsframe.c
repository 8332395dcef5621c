/* libFuzzer target: the frame parser (wsframe.c) in both modes, the frame
 * builder, and the answer to the upgrade. The first input byte picks the
 * mode (top bit: server, reading a browser's masked frames) and a read
 * size. Invariants: it never consumes more than it is given, event data
 * lies in the input or in the parser's own buffers (server mode: never in
 * the input, which is still masked), a message is never over max_message,
 * the same bytes give the same events whether read whole or in pieces of
 * any size, a server reads a stream exactly as a client reads the same
 * frames unmasked, what wsf_build writes reads back as its payload, and an
 * answer to the upgrade passes the check only as RFC 6455's sample 101. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "wsframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MESSAGE 4096
#define MAX_EVENTS 4096

struct ev_rec {
	enum wsf_event type;
	int binary;
	size_t len;
	uint16_t code;
	uint32_t sum;	/* of the payload bytes */
};

static size_t
run(const uint8_t *data, size_t size, size_t step, struct ev_rec *out, int server)
{
	struct wsf_rx rx;
	struct wsf_ev ev;
	size_t off = 0, n_ev = 0;
	int stop = 0;

	if (server)
		wsf_rx_init_server(&rx, MAX_MESSAGE);
	else
		wsf_rx_init(&rx, MAX_MESSAGE);
	while (off < size && !stop && n_ev < MAX_EVENTS) {
		size_t k = size - off > step ? step : size - off, used = 0;
		char *c = malloc(k);

		memcpy(c, data + off, k);
		while (n_ev < MAX_EVENTS) {
			size_t n = wsf_rx_next(&rx, c + used, k - used, &ev);

			if (n > k - used)
				abort();
			used += n;
			if (ev.type == WSF_NEED_MORE) {
				if (used != k)
					abort();
				break;
			}
			if (ev.type == WSF_MESSAGE || ev.type == WSF_PING || ev.type == WSF_PONG ||
			    ev.type == WSF_CLOSE) {
				const char *in_lo = c, *in_hi = c + k;
				int in_input = ev.data >= in_lo && ev.data + ev.len <= in_hi;
				int in_buf = rx.buf && ev.data >= rx.buf && ev.data + ev.len <= rx.buf + rx.buf_cap;

				int in_ctl = ev.data >= (const char *)rx.ctl &&
					     ev.data + ev.len <= (const char *)rx.ctl + sizeof(rx.ctl);

				if (ev.len && !in_input && !in_buf && ev.type == WSF_MESSAGE)
					abort();
				if (server && ev.len && (in_input || !(ev.type == WSF_MESSAGE ? in_buf : in_ctl)))
					abort();
				if (ev.len > MAX_MESSAGE)
					abort();
				if (ev.type != WSF_MESSAGE && ev.len > 125)
					abort();
			}
			memset(&out[n_ev], 0, sizeof(out[n_ev]));	/* padding too: compared with memcmp */
			out[n_ev].type = ev.type;
			out[n_ev].binary = ev.type == WSF_MESSAGE || ev.type == WSF_OVERSIZE ? ev.binary : 0;
			out[n_ev].len = ev.type == WSF_ERROR ? 0 : ev.len;
			out[n_ev].code = ev.code;
			out[n_ev].sum = 0;
			if (ev.type != WSF_OVERSIZE && ev.type != WSF_ERROR)
				for (size_t i = 0; i < ev.len; i++)
					out[n_ev].sum = out[n_ev].sum * 31 + (uint8_t)ev.data[i];
			n_ev++;
			if (ev.type == WSF_ERROR || ev.type == WSF_CLOSE) {
				stop = 1;
				break;
			}
		}
		free(c);
		off += k;
	}
	wsf_rx_free(&rx);
	return n_ev;
}

/* The client frames of a server-mode stream with their masks taken off, so
 * a client-mode parser must see the same events: each masked frame's
 * header without its key, then its payload unmasked. Where the server
 * stops, the copy makes the client stop the same way: an unmasked frame
 * (1002 from the server) becomes one with a reserved bit (1002 from the
 * client); a header cut short keeps only its first two bytes, with a
 * 16-bit length so that the client, like the server, checks them and
 * then waits. Returns the copy's length (<= size + 2). */
static size_t
unmask_stream(const uint8_t *in, size_t size, uint8_t *out)
{
	size_t i = 0, o = 0;

	while (i < size) {
		uint8_t b0 = in[i], b1, l7;
		size_t ext, hs, avail;
		uint64_t len = 0;

		if (size - i < 2) {
			out[o++] = b0;
			break;
		}
		b1 = in[i + 1];
		l7 = b1 & 0x7f;
		if (!(b1 & 0x80)) {
			out[o++] = 0xc1;
			out[o++] = 0x00;
			break;
		}
		ext = l7 == 126 ? 2 : l7 == 127 ? 8 : 0;
		hs = 2 + ext + 4;
		if (size - i < hs) {
			out[o++] = b0;
			out[o++] = l7 < 126 ? 126 : l7;
			break;
		}
		out[o++] = b0;
		out[o++] = l7;
		for (size_t k = 0; k < ext; k++) {
			out[o++] = in[i + 2 + k];
			len = len << 8 | in[i + 2 + k];
		}
		if (l7 < 126)
			len = l7;
		avail = size - i - hs;
		if (len < avail)
			avail = (size_t)len;
		for (size_t k = 0; k < avail; k++)
			out[o++] = in[i + hs + k] ^ in[i + hs - 4 + (k & 3)];
		i += hs + avail;
	}
	return o;
}

/* wsf_build's frame of payload, read back in the other mode. */
static void
check_build(const uint8_t *payload, size_t len, const uint8_t *mask)
{
	uint8_t out[MAX_MESSAGE + 14];
	struct wsf_rx rx;
	struct wsf_ev ev;
	size_t n = wsf_build(out, sizeof(out), WSF_OP_BINARY, payload, len, mask), used;

	if (n != len + 2 + (len >= 126 ? 2 : 0) + (mask ? 4 : 0))
		abort();
	if (mask)
		wsf_rx_init_server(&rx, MAX_MESSAGE);
	else
		wsf_rx_init(&rx, MAX_MESSAGE);
	used = wsf_rx_next(&rx, (const char *)out, n, &ev);
	if (used != n || ev.type != WSF_MESSAGE || !ev.binary || ev.len != len ||
	    (len && memcmp(ev.data, payload, len)))
		abort();
	wsf_rx_free(&rx);
	/* a control frame over 125 bytes is refused, not truncated */
	if (wsf_build(out, sizeof(out), WSF_OP_PING, payload, len, mask) == 0) {
		if (len <= 125)
			abort();
	} else if (len > 125) {
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ev_rec a[MAX_EVENTS], b[MAX_EVENTS];
	static uint8_t plain[1 << 20];
	struct wsf_response r;
	size_t step, na, nb;
	int server;
	char *copy;

	if (size < 1 || size > sizeof(plain) - 2)
		return 0;
	server = data[0] >> 7;
	step = (size_t)(data[0] & 0x7f) % 37 + 1;
	data++;
	size--;
	na = run(data, size, size ? size : 1, a, server);
	nb = run(data, size, step, b, server);
	if (na != nb || memcmp(a, b, na * sizeof(a[0])))
		abort();
	if (server) {
		size_t n = unmask_stream(data, size, plain);

		nb = run(plain, n, n ? n : 1, b, 0);
		if (na != nb || memcmp(a, b, na * sizeof(a[0])))
			abort();
	}
	{
		size_t len = size > MAX_MESSAGE ? MAX_MESSAGE : size;

		check_build(data, len, NULL);
		check_build(data, len, size >= 4 ? data : (const uint8_t *)"\x5a\xa5\x0f\xf0");
	}
	/* the same bytes as an answer to the upgrade */
	copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	{
		long hl = wsf_response_parse(copy, size, &r);
		const char *why;

		if (hl > (long)size)
			abort();
		if (hl > 0 && wsf_response_check(&r, "dGhlIHNhbXBsZSBub25jZQ==", &why) && !why)
			abort();
		/* an accepted answer is a 101 carrying RFC 6455's own sample accept
		 * for that key (section 1.3), and nothing that was not offered */
		if (hl > 0 && !wsf_response_check(&r, "dGhlIHNhbXBsZSBub25jZQ==", &why) &&
		    (r.status != 101 || !r.upgrade_websocket || !r.connection_upgrade ||
		     strcmp(r.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") || r.has_extensions || r.has_protocol))
			abort();
	}
	free(copy);
	return 0;
}
