/* outq.h: a subscriber's bounded queue of shared frames, pure.
 *
 * A ring of frame pointers that grows by doubling up to a count cap; a ring
 * grown past 64 slots is freed again when it empties, so a burst does not
 * pin memory, and a subscriber that never got a frame costs no ring.
 * The byte limit counts the shared frames' full size, so a lagging client
 * is detected by what it pins in memory. */
#ifndef UWRELAY_OUTQ_H
#define UWRELAY_OUTQ_H

#include <stddef.h>
#include <stdint.h>
#include "frame.h"

struct outq {
	struct frame **ring;
	uint32_t cap;		/* power of two, or 0 */
	uint32_t head;
	uint32_t count;
	size_t bytes;
};

#define OUTQ_MAX_COUNT 65536u

/* Appends f with a new reference. Returns 0, or -1 (nothing changed) when
 * the queue would exceed max_bytes or OUTQ_MAX_COUNT entries, or on OOM.
 * An empty queue always accepts one frame, however large. */
int outq_push(struct outq *q, struct frame *f, size_t max_bytes);
/* Oldest frame, or NULL. The queue keeps its reference. */
static inline struct frame *outq_peek(const struct outq *q)
{
	return q->count ? q->ring[q->head] : NULL;
}
/* The i-th oldest frame (i < count). */
static inline struct frame *outq_at(const struct outq *q, uint32_t i)
{
	return q->ring[(q->head + i) & (q->cap - 1)];
}
/* Drops the oldest frame (and its reference). No-op when empty. */
void outq_pop(struct outq *q);
/* Drops everything and frees the ring. */
void outq_clear(struct outq *q);

#endif
