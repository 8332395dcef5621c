/* registry.c: channel <-> subscriber index, no I/O.
 *
 * Cost: a channel is ~200 bytes plus 8 bytes per subscriber slot; a
 * membership is 24 bytes; a subscriber's own array grows by doubling. The
 * hash table doubles when it holds more channels than buckets. */
#include <stdlib.h>
#include <string.h>
#include "registry.h"

static uint32_t
hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	while (n--) {
		h ^= (unsigned char)*s++;
		h *= 16777619u;
	}
	return h;
}

int
registry_init(struct registry *r)
{
	memset(r, 0, sizeof(*r));
	r->n_buckets = 64;
	r->buckets = calloc(r->n_buckets, sizeof(*r->buckets));
	return r->buckets ? 0 : -1;
}

static void
idle_unlink(struct registry *r, struct reg_channel *ch)
{
	if (ch->iprev)
		ch->iprev->inext = ch->inext;
	else if (r->idle_head == ch)
		r->idle_head = ch->inext;
	else
		return;		/* not on the list */
	if (ch->inext)
		ch->inext->iprev = ch->iprev;
	else
		r->idle_tail = ch->iprev;
	ch->iprev = ch->inext = NULL;
	r->n_idle--;
}

static void
idle_append(struct registry *r, struct reg_channel *ch)
{
	ch->inext = NULL;
	ch->iprev = r->idle_tail;
	if (r->idle_tail)
		r->idle_tail->inext = ch;
	else
		r->idle_head = ch;
	r->idle_tail = ch;
	r->n_idle++;
}

static void
channel_free(struct registry *r, struct reg_channel *ch)
{
	if (r->on_evict)
		r->on_evict(ch, r->evict_arg);
	history_clear(&ch->hist);
	free(ch->members);
	free(ch);
}

static void
unhash(struct registry *r, struct reg_channel *ch)
{
	struct reg_channel **pp = &r->buckets[hash(ch->name, ch->name_len) & (r->n_buckets - 1)];

	while (*pp && *pp != ch)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = ch->hnext;
	registry_clear_dirty(r, ch);
	r->n_channels--;
}

/* Evicts the oldest idle channels beyond the cap. Channels still joined
 * upstream, or dirty (a leave lingering or waiting for the budget), are
 * skipped: evicting them would lose the leave. They become evictable once
 * the reconciler has sent it (up_state NONE, off the dirty list). */
static void
evict_idle(struct registry *r)
{
	struct reg_channel *ch = r->idle_head, *next;

	while (ch && r->n_idle > REGISTRY_MAX_IDLE) {
		next = ch->inext;
		if (ch->up_state == UPCH_NONE && !ch->dirty) {
			idle_unlink(r, ch);
			unhash(r, ch);
			if (ch->seq > r->seq_floor)
				r->seq_floor = ch->seq;
			channel_free(r, ch);
		}
		ch = next;
	}
}

void
registry_free(struct registry *r)
{
	for (uint32_t i = 0; i < r->n_buckets; i++) {
		struct reg_channel *ch = r->buckets[i], *next;

		for (; ch; ch = next) {
			next = ch->hnext;
			for (uint32_t j = 0; j < ch->n_members; j++) {
				struct reg_sub *s = ch->members[j]->sub;

				/* a subscriber's array goes with its last membership */
				if (!--s->n) {
					free(s->m);
					s->m = NULL;
					s->cap = 0;
				}
				free(ch->members[j]);
			}
			channel_free(r, ch);
		}
	}
	free(r->buckets);
	memset(r, 0, sizeof(*r));
}

struct reg_channel *
registry_find(const struct registry *r, const char *name, size_t len)
{
	struct reg_channel *ch = r->buckets[hash(name, len) & (r->n_buckets - 1)];

	for (; ch; ch = ch->hnext)
		if (ch->name_len == len && !memcmp(ch->name, name, len))
			return ch;
	return NULL;
}

static void
grow_table(struct registry *r)
{
	uint32_t nb = r->n_buckets * 2;
	struct reg_channel **b = calloc(nb, sizeof(*b));

	if (!b)
		return;		/* keep the old table: slower, still correct */
	for (uint32_t i = 0; i < r->n_buckets; i++) {
		struct reg_channel *ch = r->buckets[i], *next;

		for (; ch; ch = next) {
			uint32_t h = hash(ch->name, ch->name_len) & (nb - 1);

			next = ch->hnext;
			ch->hnext = b[h];
			b[h] = ch;
		}
	}
	free(r->buckets);
	r->buckets = b;
	r->n_buckets = nb;
}

static struct reg_channel *
channel_create(struct registry *r, const char *name, size_t len)
{
	struct reg_channel *ch;
	uint32_t h;

	if (len > CHNAME_MAX)
		return NULL;
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return NULL;
	memcpy(ch->name, name, len);
	ch->name_len = (uint8_t)len;
	ch->seq = r->seq_floor;
	if (r->n_channels >= r->n_buckets)
		grow_table(r);
	h = hash(name, len) & (r->n_buckets - 1);
	ch->hnext = r->buckets[h];
	r->buckets[h] = ch;
	r->n_channels++;
	return ch;
}

struct reg_channel *
registry_touch(struct registry *r, const char *name, size_t len)
{
	struct reg_channel *ch = registry_find(r, name, len);

	if (ch)
		return ch;
	ch = channel_create(r, name, len);
	if (!ch)
		return NULL;
	idle_append(r, ch);
	evict_idle(r);
	return registry_find(r, name, len);	/* NULL if it was the one evicted */
}

struct reg_member *
registry_membership(const struct reg_sub *s, const struct reg_channel *ch)
{
	for (uint16_t i = 0; i < s->n; i++)
		if (s->m[i]->ch == ch)
			return s->m[i];
	return NULL;
}

int
registry_is_member(const struct reg_sub *s, const struct reg_channel *ch)
{
	return registry_membership(s, ch) != NULL;
}

int
registry_subscribe(struct registry *r, struct reg_sub *s, const char *name, size_t len,
		   struct reg_channel **out)
{
	struct reg_channel *ch = registry_find(r, name, len);
	struct reg_member *m;
	int created = 0;

	if (ch && registry_is_member(s, ch)) {
		if (out)
			*out = ch;
		return REG_ALREADY;
	}
	if (!ch) {
		ch = channel_create(r, name, len);
		if (!ch)
			return REG_ERR;
		created = 1;
	}
	if (s->n == UINT16_MAX)
		goto fail;
	if (ch->n_members == ch->cap_members) {
		uint32_t nc = ch->cap_members ? ch->cap_members * 2 : 4;
		struct reg_member **nm = realloc(ch->members, sizeof(*nm) * nc);

		if (!nm)
			goto fail;
		ch->members = nm;
		ch->cap_members = nc;
	}
	if (s->n == s->cap) {
		uint16_t nc = s->cap ? (uint16_t)(s->cap * 2) : 2;
		struct reg_member **nm;

		if (nc < s->cap)
			nc = UINT16_MAX;
		nm = realloc(s->m, sizeof(*nm) * nc);
		if (!nm)
			goto fail;
		s->m = nm;
		s->cap = nc;
	}
	m = malloc(sizeof(*m));
	if (!m)
		goto fail;
	m->ch = ch;
	m->sub = s;
	m->idx = ch->n_members;
	m->filter = NULL;
	ch->members[ch->n_members++] = m;
	s->m[s->n++] = m;
	r->n_members++;
	if (out)
		*out = ch;
	if (ch->n_members == 1) {
		idle_unlink(r, ch);
		return REG_FIRST;
	}
	return REG_OK;
fail:
	if (created) {
		unhash(r, ch);
		channel_free(r, ch);
	}
	return REG_ERR;
}

/* Removes membership number i of s. Returns 1 if the channel is now empty. */
static int
remove_member(struct registry *r, struct reg_sub *s, uint16_t i)
{
	struct reg_member *m = s->m[i];
	struct reg_channel *ch = m->ch;

	/* swap-remove from the channel, fixing the moved member's index */
	ch->members[m->idx] = ch->members[--ch->n_members];
	ch->members[m->idx]->idx = m->idx;
	s->m[i] = s->m[--s->n];
	free(m);
	r->n_members--;
	if (ch->n_members)
		return 0;
	/* a channel that once had a thousand subscribers gives the array back */
	free(ch->members);
	ch->members = NULL;
	ch->cap_members = 0;
	idle_append(r, ch);
	return 1;
}

int
registry_unsubscribe(struct registry *r, struct reg_sub *s, const char *name, size_t len,
		     struct reg_channel **out)
{
	struct reg_channel *ch = registry_find(r, name, len);

	if (out)
		*out = ch;
	if (!ch)
		return REG_NOT_SUBSCRIBED;
	for (uint16_t i = 0; i < s->n; i++)
		if (s->m[i]->ch == ch) {
			int last = remove_member(r, s, i);

			if (!s->n) {
				free(s->m);
				s->m = NULL;
				s->cap = 0;
			}
			return last ? REG_LAST : REG_OK;
		}
	return REG_NOT_SUBSCRIBED;
}

void
registry_unsubscribe_all(struct registry *r, struct reg_sub *s,
			 void (*last_left)(struct reg_channel *ch, void *arg), void *arg)
{
	while (s->n) {
		struct reg_channel *ch = s->m[s->n - 1]->ch;

		if (remove_member(r, s, (uint16_t)(s->n - 1)) && last_left)
			last_left(ch, arg);
	}
	free(s->m);
	s->m = NULL;
	s->cap = 0;
	evict_idle(r);
}

void
registry_mark_dirty(struct registry *r, struct reg_channel *ch)
{
	if (ch->dirty)
		return;
	ch->dirty = 1;
	ch->dnext = NULL;
	ch->dprev = r->dirty_tail;
	if (r->dirty_tail)
		r->dirty_tail->dnext = ch;
	else
		r->dirty_head = ch;
	r->dirty_tail = ch;
}

void
registry_clear_dirty(struct registry *r, struct reg_channel *ch)
{
	if (!ch->dirty)
		return;
	if (ch->dprev)
		ch->dprev->dnext = ch->dnext;
	else
		r->dirty_head = ch->dnext;
	if (ch->dnext)
		ch->dnext->dprev = ch->dprev;
	else
		r->dirty_tail = ch->dprev;
	ch->dprev = ch->dnext = NULL;
	ch->dirty = 0;
}

struct reg_channel *
registry_pop_dirty(struct registry *r)
{
	struct reg_channel *ch = r->dirty_head;

	if (ch)
		registry_clear_dirty(r, ch);
	return ch;
}

enum reg_up_action
registry_up_action(const struct reg_channel *ch, uint64_t now_ms, uint64_t linger_ms,
		   uint64_t *due_ms)
{
	uint64_t due;

	if (ch->n_members)
		return ch->up_state == UPCH_NONE ? REG_UP_JOIN : REG_UP_NOTHING;
	if (ch->up_state == UPCH_NONE)
		return REG_UP_NOTHING;
	due = ch->want_changed_ms + linger_ms;
	if (due < ch->want_changed_ms)
		due = UINT64_MAX;	/* a linger to the end of time */
	if (now_ms >= due)
		return REG_UP_LEAVE;
	if (due_ms)
		*due_ms = due;
	return REG_UP_LINGER;
}

struct reg_channel *
registry_first(const struct registry *r, uint32_t *it)
{
	for (*it = 0; *it < r->n_buckets; (*it)++)
		if (r->buckets[*it])
			return r->buckets[*it];
	return NULL;
}

struct reg_channel *
registry_next(const struct registry *r, struct reg_channel *ch, uint32_t *it)
{
	if (ch->hnext)
		return ch->hnext;
	for ((*it)++; *it < r->n_buckets; (*it)++)
		if (r->buckets[*it])
			return r->buckets[*it];
	return NULL;
}

int
registry_check(const struct registry *r)
{
	uint32_t it, nch = 0, nidle = 0;
	uint64_t nm = 0;
	struct reg_channel *ch;

	for (ch = registry_first(r, &it); ch; ch = registry_next(r, ch, &it)) {
		nch++;
		if (registry_find(r, ch->name, ch->name_len) != ch)
			return -1;
		for (uint32_t i = 0; i < ch->n_members; i++) {
			struct reg_member *m = ch->members[i];

			if (m->ch != ch || m->idx != i)
				return -2;
			if (!registry_is_member(m->sub, ch))
				return -3;
			nm++;
		}
		if (!ch->n_members)
			nidle++;
	}
	if (nch != r->n_channels || nm != r->n_members || nidle != r->n_idle)
		return -4;
	for (ch = r->idle_head; ch; ch = ch->inext)
		if (ch->n_members)
			return -5;
	/* the dirty list: linked both ways, exactly the channels marked dirty */
	{
		const struct reg_channel *prev = NULL;
		uint32_t ndirty = 0, marked = 0;

		for (ch = r->dirty_head; ch; prev = ch, ch = ch->dnext) {
			if (!ch->dirty || ch->dprev != prev || ++ndirty > nch)
				return -6;
		}
		if (r->dirty_tail != prev)
			return -6;
		for (ch = registry_first(r, &it); ch; ch = registry_next(r, ch, &it))
			marked += ch->dirty;
		if (marked != ndirty)
			return -6;
	}
	return 0;
}
