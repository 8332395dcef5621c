/* ipcount.c: per-address connection counts (open addressing, linear probe). */
#include <stdlib.h>
#include <string.h>
#include "ipcount.h"

#define TOMB "\x01"

static uint32_t
hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 16777619u;
	}
	return h;
}

static struct ipcount_slot *
find(const struct ipcount *t, const char *addr)
{
	if (!t->cap)
		return NULL;
	for (uint32_t i = hash(addr) & (t->cap - 1), n = 0; n < t->cap; n++, i = (i + 1) & (t->cap - 1)) {
		struct ipcount_slot *s = &t->slots[i];

		if (!s->addr[0])
			return NULL;
		if (!strcmp(s->addr, addr))
			return s;
	}
	return NULL;
}

static int
rehash(struct ipcount *t, uint32_t ncap)
{
	struct ipcount_slot *ns = calloc(ncap, sizeof(*ns));

	if (!ns)
		return -1;
	for (uint32_t i = 0; i < t->cap; i++) {
		struct ipcount_slot *s = &t->slots[i];

		if (!s->addr[0] || !strcmp(s->addr, TOMB))
			continue;
		uint32_t j = hash(s->addr) & (ncap - 1);

		while (ns[j].addr[0])
			j = (j + 1) & (ncap - 1);
		ns[j] = *s;
	}
	free(t->slots);
	t->slots = ns;
	t->cap = ncap;
	t->used = t->live;
	return 0;
}

uint32_t
ipcount_get(const struct ipcount *t, const char *addr)
{
	const struct ipcount_slot *s = find(t, addr);

	return s ? s->count : 0;
}

uint32_t
ipcount_inc(struct ipcount *t, const char *addr)
{
	struct ipcount_slot *s = find(t, addr);
	uint32_t i;

	if (s)
		return ++s->count;
	if (strlen(addr) >= IPCOUNT_ADDR_MAX || !addr[0] || !strcmp(addr, TOMB))
		return 0;
	/* keep the load (with tombstones) under 1/2 */
	if ((t->used + 1) * 2 > t->cap &&
	    rehash(t, (t->live + 1) * 4 > t->cap ? (t->cap ? t->cap * 2 : 16) : t->cap))
		return 0;
	for (i = hash(addr) & (t->cap - 1);; i = (i + 1) & (t->cap - 1))
		if (!t->slots[i].addr[0] || !strcmp(t->slots[i].addr, TOMB))
			break;
	if (!t->slots[i].addr[0])
		t->used++;
	strcpy(t->slots[i].addr, addr);
	t->slots[i].count = 1;
	t->live++;
	return 1;
}

uint32_t
ipcount_dec(struct ipcount *t, const char *addr)
{
	struct ipcount_slot *s = find(t, addr);

	if (!s)
		return 0;
	if (--s->count)
		return s->count;
	strcpy(s->addr, TOMB);
	t->live--;
	return 0;
}

void
ipcount_free(struct ipcount *t)
{
	free(t->slots);
	memset(t, 0, sizeof(*t));
}
