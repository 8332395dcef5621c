/* history.c: bounded ring of shared frames per channel. */
#include <stdlib.h>
#include "history.h"

static void
drop_oldest(struct history *h)
{
	struct frame *f = h->ring[h->head];

	h->head = (h->head + 1) % h->cap;
	h->count--;
	h->bytes -= frame_cost(f);
	frame_unref(f);
}

int
history_add(struct history *h, struct frame *f, uint32_t max_count, size_t max_bytes)
{
	if (!max_count) {
		history_clear(h);
		return 0;
	}
	if (h->count == h->cap) {
		if (h->cap >= max_count)
			drop_oldest(h);
		else {
			uint32_t nc = h->cap ? h->cap * 2 : 16;
			struct frame **nr;

			if (nc > max_count)
				nc = max_count;
			nr = malloc(sizeof(*nr) * nc);
			if (!nr)
				return -1;
			for (uint32_t i = 0; i < h->count; i++)
				nr[i] = h->ring[(h->head + i) % h->cap];
			free(h->ring);
			h->ring = nr;
			h->cap = nc;
			h->head = 0;
		}
	}
	h->ring[(h->head + h->count) % h->cap] = frame_ref(f);
	h->count++;
	h->bytes += frame_cost(f);
	while (h->count > 1 && (h->count > max_count || h->bytes > max_bytes))
		drop_oldest(h);
	return 0;
}

uint64_t
history_first_seq(const struct history *h)
{
	return h->count ? h->ring[h->head]->seq : 0;
}

struct frame *
history_at(const struct history *h, uint32_t i)
{
	return i < h->count ? h->ring[(h->head + i) % h->cap] : NULL;
}

uint32_t
history_index_after(const struct history *h, uint64_t since)
{
	uint64_t first = history_first_seq(h);

	if (!h->count || since < first)
		return 0;
	if (since - first + 1 >= h->count)
		return h->count;
	return (uint32_t)(since - first + 1);
}

void
history_clear(struct history *h)
{
	while (h->count)
		drop_oldest(h);
	free(h->ring);
	h->ring = NULL;
	h->cap = 0;
	h->head = 0;
	h->bytes = 0;
}
