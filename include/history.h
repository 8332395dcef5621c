/* history.h: a channel's recent frames, for resume, pure.
 *
 * The ring holds references to the same frames the subscribers got (no
 * copy), bounded both by count and by bytes; the oldest go first. Seqs in
 * a channel are contiguous, so finding where to resume is arithmetic. */
#ifndef UWRELAY_HISTORY_H
#define UWRELAY_HISTORY_H

#include <stddef.h>
#include <stdint.h>
#include "frame.h"

struct history {
	struct frame **ring;
	uint32_t cap, head, count;
	size_t bytes;
};

/* Appends f (a new reference), then drops the oldest frames until at most
 * max_count frames and max_bytes bytes remain (the newest frame is always
 * kept when max_count > 0). Returns 0, or -1 on OOM (f not added, history
 * unchanged). max_count 0 keeps nothing. */
int history_add(struct history *h, struct frame *f, uint32_t max_count, size_t max_bytes);
/* Seq of the oldest frame held, or 0 if empty. */
uint64_t history_first_seq(const struct history *h);
/* The i-th oldest frame (0-based), or NULL past the end. */
struct frame *history_at(const struct history *h, uint32_t i);
/* Index of the first frame with seq > since; count if none. */
uint32_t history_index_after(const struct history *h, uint64_t since);
/* Drops every frame and frees the ring. Accepts a zeroed history. */
void history_clear(struct history *h);

#endif
