/* tapeq.c: the packed frame buffer between the loop and the tape writer. */
#include <stdlib.h>
#include <string.h>
#include "tapeq.h"

/* Headers stay 8-byte aligned: each record is padded to a multiple of 8. */
#define ALIGN8(n) (((n) + 7) & ~(size_t)7)

size_t
tapeq_rec_size(size_t len)
{
	return ALIGN8(sizeof(struct tapeq_rec) + len);
}

int
tapeq_init(struct tapeq *q, size_t cap)
{
	memset(q, 0, sizeof(*q));
	q->p = malloc(cap ? cap : 1);
	if (!q->p)
		return -1;
	q->cap = cap;
	return 0;
}

void
tapeq_free(struct tapeq *q)
{
	free(q->p);
	memset(q, 0, sizeof(*q));
}

int
tapeq_put(struct tapeq *q, uint16_t chan, const char epoch[16], uint64_t seq, int64_t ts,
	  const char *payload, size_t len)
{
	struct tapeq_rec h;
	size_t need;

	if (len > UINT32_MAX)
		return -1;
	need = tapeq_rec_size(len);
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

const struct tapeq_rec *
tapeq_next(const struct tapeq *q, size_t *off, const char **payload)
{
	const struct tapeq_rec *h;

	if (*off >= q->len)
		return NULL;
	h = (const struct tapeq_rec *)(const void *)(q->p + *off);
	*payload = (const char *)(q->p + *off + sizeof(*h));
	*off += tapeq_rec_size(h->len);
	return h;
}

void
tapeq_clear(struct tapeq *q)
{
	q->len = 0;
	q->n = 0;
	q->first_ms = 0;
}
