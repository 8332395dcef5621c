/* seenset.c: bounded FIFO set of 64-bit hashes. */
#include <stdlib.h>
#include <string.h>
#include "seenset.h"

/* 0 and 1 mark free and deleted slots: real hashes are moved off them */
static uint64_t
fix(uint64_t h)
{
	return h < 2 ? h + 2 : h;
}

uint64_t
seenset_hash(const char *p, size_t len)
{
	uint64_t h = 1469598103934665603ull;

	while (len--) {
		h ^= (unsigned char)*p++;
		h *= 1099511628211ull;
	}
	return fix(h);
}

int
seenset_init(struct seenset *s, uint32_t cap)
{
	memset(s, 0, sizeof(*s));
	if (!cap)
		cap = 1;
	s->cap = cap;
	for (s->index_cap = 16; s->index_cap < 2 * cap; s->index_cap *= 2)
		;
	s->fifo = calloc(cap, sizeof(*s->fifo));
	s->index = calloc(s->index_cap, sizeof(*s->index));
	if (!s->fifo || !s->index) {
		seenset_free(s);
		return -1;
	}
	return 0;
}

void
seenset_free(struct seenset *s)
{
	free(s->fifo);
	free(s->index);
	memset(s, 0, sizeof(*s));
}

static uint32_t
slot_of(const struct seenset *s, uint64_t h, int for_insert)
{
	uint32_t m = s->index_cap - 1, i = (uint32_t)(h ^ (h >> 32)) & m, tomb = UINT32_MAX;

	for (uint32_t n = 0; n < s->index_cap; n++, i = (i + 1) & m) {
		if (s->index[i] == h)
			return i;
		if (s->index[i] == 1 && tomb == UINT32_MAX)
			tomb = i;
		if (!s->index[i])
			return for_insert && tomb != UINT32_MAX ? tomb : i;
	}
	return tomb;
}

int
seenset_has(const struct seenset *s, uint64_t h)
{
	uint32_t i;

	h = fix(h);
	i = slot_of(s, h, 0);
	return i != UINT32_MAX && s->index[i] == h;
}

static void
rebuild(struct seenset *s)
{
	memset(s->index, 0, sizeof(*s->index) * s->index_cap);
	s->tombs = 0;
	for (uint32_t k = 0; k < s->count; k++) {
		uint64_t h = s->fifo[(s->head + k) % s->cap];

		s->index[slot_of(s, h, 1)] = h;
	}
}

int
seenset_add(struct seenset *s, uint64_t h)
{
	uint32_t i;

	h = fix(h);
	if (seenset_has(s, h))
		return 0;
	if (s->count == s->cap) {
		uint64_t old = s->fifo[s->head];

		i = slot_of(s, old, 0);
		if (i != UINT32_MAX && s->index[i] == old) {
			s->index[i] = 1;
			s->tombs++;
		}
		s->head = (s->head + 1) % s->cap;
		s->count--;
	}
	s->fifo[(s->head + s->count) % s->cap] = h;
	s->count++;
	/* tombstones lengthen every probe: rebuild once there are as many
	 * as live entries could be (the fifo already holds h) */
	if (s->tombs >= s->cap) {
		rebuild(s);
		return 1;
	}
	i = slot_of(s, h, 1);
	if (s->index[i] == 1)
		s->tombs--;
	s->index[i] = h;
	return 1;
}
