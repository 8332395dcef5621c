/* frame.c: refcounted outgoing messages. */
#include <stdlib.h>
#include "frame.h"

static uint64_t live_count, live_bytes;

struct frame *
frame_new(size_t len)
{
	struct frame *f;

	if (len > UINT32_MAX - FRAME_PRE - 1)
		return NULL;
	f = malloc(sizeof(*f) + FRAME_PRE + len + 1);
	if (!f)
		return NULL;
	f->refs = 1;
	f->len = (uint32_t)len;
	f->seq = 0;
	f->t_us = 0;
	f->hdr_len = 0;
	f->sse = f->z = NULL;
	f->sse_len = f->z_len = 0;
	f->z_state = FRAME_Z_UNTRIED;
	f->z_bits = 0;
	f->buf[FRAME_PRE + len] = '\0';
	live_count++;
	live_bytes += frame_cost(f);
	return f;
}

void
frame_seal(struct frame *f)
{
	unsigned char *d = f->buf + FRAME_PRE;
	uint64_t n = f->len;

	/* RFC 6455 5.2: FIN + text opcode, then the shortest length form */
	if (n < 126) {
		d[-1] = (unsigned char)n;
		f->hdr_len = 2;
	} else if (n < 65536) {
		d[-3] = 126;
		d[-2] = (unsigned char)(n >> 8);
		d[-1] = (unsigned char)n;
		f->hdr_len = 4;
	} else {
		d[-9] = 127;
		for (int i = 0; i < 8; i++)
			d[-1 - i] = (unsigned char)(n >> (8 * i));
		f->hdr_len = 10;
	}
	d[-(int)f->hdr_len] = 0x81;
}

void
frame_unref(struct frame *f)
{
	if (!f || --f->refs)
		return;
	live_count--;
	live_bytes -= frame_cost(f);
	if (f->sse)
		free(f->sse - FRAME_PRE);
	if (f->z)
		free(f->z - FRAME_PRE);
	free(f);
}

uint64_t frame_live_count(void) { return live_count; }
uint64_t frame_live_bytes(void) { return live_bytes; }
