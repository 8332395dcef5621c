/* tapebuf.c: the packed frame buffer between the loop and the tape writer. */
#include <stdlib.h>
#include <string.h>
#include "tapebuf.h"

/* Headers stay 8-byte aligned: each record is padded to a multiple of 8. */
#define ALIGN8(n) (((n) + 7) & ~(size_t)7)

size_t
tapebuf_rec_size(size_t len)
{
	return ALIGN8(sizeof(struct tapebuf_rec) + len);
}

int
tapebuf_init(struct tapebuf *q, size_t cap)
{
	memset(q, 0, sizeof(*q));
	q->p = malloc(cap ? cap : 1);
	if (!q->p)
		return -1;
	q->cap = cap;
	return 0;
}

void
tapebuf_free(struct tapebuf *q)
{
	free(q->p);
	memset(q, 0, sizeof(*q));
}

int
tapebuf_put(struct tapebuf *q, uint16_t chan, const char epoch[16], uint64_t seq, int64_t ts,
	  const char *payload, size_t len)
{
	struct tapebuf_rec h;
	size_t need;

	if (len > UINT32_MAX)
		return -1;
	need = tapebuf_rec_size(len);
	if (need > q->cap - q->len)
		return -1;
	memset(&h, 0, sizeof(h));
	h.seq = seq;
	h.ts = ts;
	h.len = (uint32_t)len;
	h.chan = chan;
	memcpy(h.epoch, epoch, sizeof(h.epoch));
	memcpy(q->p + q->len, &h, sizeof(h));
	if (len)
		memcpy(q->p + q->len + sizeof(h), payload, len);
	q->len += need;
	q->n++;
	return 0;
}

const struct tapebuf_rec *
tapebuf_next(const struct tapebuf *q, size_t *off, const char **payload)
{
	const struct tapebuf_rec *h;

	if (*off >= q->len)
		return NULL;
	h = (const struct tapebuf_rec *)(const void *)(q->p + *off);
	*payload = (const char *)(q->p + *off + sizeof(*h));
	*off += tapebuf_rec_size(h->len);
	return h;
}

void
tapebuf_clear(struct tapebuf *q)
{
	q->len = 0;
	q->n = 0;
	q->first_ms = 0;
}
