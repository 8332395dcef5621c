/* libFuzzer target: the server-frame parser (wsframe.c) and the answer to
 * the upgrade. Invariants: it never consumes more than it is given, event
 * data lies in the input or in the parser's own buffer, a message is never
 * over max_message, and the same bytes give the same events whether read
 * whole or in pieces of any size (the first input byte picks the size). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "wsframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MESSAGE 4096
#define MAX_EVENTS 4096

struct ev_rec {
	enum wsf_event type;
	size_t len;
	uint16_t code;
	uint32_t sum;	/* of the payload bytes */
};

static size_t
run(const uint8_t *data, size_t size, size_t step, struct ev_rec *out)
{
	struct wsf_rx rx;
	struct wsf_ev ev;
	size_t off = 0, n_ev = 0;
	int stop = 0;

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

				if (ev.len && !in_input && !in_buf && ev.type == WSF_MESSAGE)
					abort();
				if (ev.len > MAX_MESSAGE)
					abort();
				if (ev.type != WSF_MESSAGE && ev.len > 125)
					abort();
			}
			out[n_ev].type = ev.type;
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ev_rec a[MAX_EVENTS], b[MAX_EVENTS];
	struct wsf_response r;
	size_t step, na, nb;
	char *copy;

	if (size < 1)
		return 0;
	step = (size_t)data[0] % 37 + 1;
	data++;
	size--;
	na = run(data, size, size ? size : 1, a);
	nb = run(data, size, step, b);
	if (na != nb || memcmp(a, b, na * sizeof(a[0])))
		abort();
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
	}
	free(copy);
	return 0;
}
