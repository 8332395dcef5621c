/* outq.c: bounded ring of frame references. */
#include <stdlib.h>
#include "outq.h"

int
outq_push(struct outq *q, struct frame *f, size_t max_bytes)
{
	size_t cost = frame_cost(f);

	if (q->count && (q->bytes + cost > max_bytes || q->count >= OUTQ_MAX_COUNT))
		return -1;
	if (q->count == q->cap) {
		uint32_t ncap = q->cap ? q->cap * 2 : 8;
		struct frame **nr = malloc(sizeof(*nr) * ncap);

		if (!nr)
			return -1;
		/* unroll the ring into the new array, oldest first */
		for (uint32_t i = 0; i < q->count; i++)
			nr[i] = q->ring[(q->head + i) & (q->cap - 1)];
		free(q->ring);
		q->ring = nr;
		q->cap = ncap;
		q->head = 0;
	}
	q->ring[(q->head + q->count) & (q->cap - 1)] = frame_ref(f);
	q->count++;
	q->bytes += cost;
	return 0;
}

void
outq_pop(struct outq *q)
{
	struct frame *f;

	if (!q->count)
		return;
	f = q->ring[q->head];
	q->head = (q->head + 1) & (q->cap - 1);
	q->count--;
	q->bytes -= frame_cost(f);
	frame_unref(f);
	/* An emptied queue gives back a ring grown by a burst. */
	if (!q->count && q->cap > 64) {
		free(q->ring);
		q->ring = NULL;
		q->cap = 0;
		q->head = 0;
	}
}

void
outq_clear(struct outq *q)
{
	while (q->count)
		outq_pop(q);
	free(q->ring);
	q->ring = NULL;
	q->cap = 0;
	q->head = 0;
	q->bytes = 0;
}
