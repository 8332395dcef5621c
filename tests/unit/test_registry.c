/* test_registry.c: channel <-> subscriber index, first/last results,
 * idle eviction with a seq floor, registry_check() invariants. */
#include "frame.h"
#include "history.h"
#include "registry.h"
#include "check.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t
rnd(uint32_t n)	/* xorshift64*, deterministic, in [0, n) */
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ull) >> 32) % n;
}

static const char *
cname(unsigned i)
{
	static char buf[8][32];
	static int k;
	char *b = buf[k++ & 7];

	snprintf(b, 32, "ch_%u", i);
	return b;
}

static int
sub(struct registry *r, struct reg_sub *s, const char *name, struct reg_channel **out)
{
	return registry_subscribe(r, s, name, strlen(name), out);
}

static int
unsub(struct registry *r, struct reg_sub *s, const char *name, struct reg_channel **out)
{
	return registry_unsubscribe(r, s, name, strlen(name), out);
}

static struct reg_channel *
find(struct registry *r, const char *name)
{
	return registry_find(r, name, strlen(name));
}

/* last_left recorder */
#define LEFT_MAX 256
struct left {
	struct reg_channel *ch[LEFT_MAX];
	int n;
};

static void
record_left(struct reg_channel *ch, void *arg)
{
	struct left *l = arg;

	if (l->n < LEFT_MAX)
		l->ch[l->n] = ch;
	l->n++;
}

static int
left_has(const struct left *l, const struct reg_channel *ch)
{
	int n = 0;

	for (int i = 0; i < l->n && i < LEFT_MAX; i++)
		n += l->ch[i] == ch;
	return n;
}

static void
registry_init_and_free_empty(void)
{
	struct registry r;

	CHECK_EQ_INT(registry_init(&r), 0);
	CHECK_EQ_INT(registry_check(&r), 0);
	CHECK_EQ_INT(r.n_channels, 0);
	CHECK(find(&r, "news") == NULL);
	CHECK(registry_pop_dirty(&r) == NULL);
	registry_free(&r);
}

static void
registry_first_then_ok_then_already(void)
{
	struct registry r;
	struct reg_sub a = { 0 }, b = { 0 };
	struct reg_channel *ch = NULL, *ch2 = NULL;

	registry_init(&r);
	CHECK_EQ_INT(sub(&r, &a, "price:SPY", &ch), REG_FIRST);
	CHECK(ch != NULL);
	CHECK(ch == find(&r, "price:SPY"));
	if (ch) {
		CHECK_MEM(ch->name, ch->name_len, "price:SPY", 9);
		CHECK_EQ_INT(ch->n_members, 1);
	}
	CHECK_EQ_INT(registry_check(&r), 0);
	CHECK_EQ_INT(sub(&r, &b, "price:SPY", &ch2), REG_OK);
	CHECK(ch2 == ch);
	CHECK_EQ_INT(registry_check(&r), 0);
	ch2 = NULL;
	CHECK_EQ_INT(sub(&r, &a, "price:SPY", &ch2), REG_ALREADY);
	CHECK(ch2 == ch);
	CHECK_EQ_INT(sub(&r, &b, "price:SPY", NULL), REG_ALREADY);	/* out may be NULL */
	CHECK_EQ_INT(ch->n_members, 2);
	CHECK_EQ_UINT(r.n_members, 2);
	CHECK_EQ_INT(r.n_channels, 1);
	CHECK_EQ_INT(r.n_idle, 0);
	CHECK(registry_is_member(&a, ch));
	CHECK(registry_is_member(&b, ch));
	CHECK_EQ_INT(a.n, 1);
	CHECK_EQ_INT(b.n, 1);
	CHECK_EQ_INT(registry_check(&r), 0);
	registry_unsubscribe_all(&r, &a, NULL, NULL);
	registry_unsubscribe_all(&r, &b, NULL, NULL);
	registry_free(&r);
}

static void
registry_unsubscribe_ok_then_last(void)
{
	struct registry r;
	struct reg_sub a = { 0 }, b = { 0 }, c = { 0 };
	struct reg_channel *ch, *out;

	registry_init(&r);
	sub(&r, &a, "news", &ch);
	sub(&r, &b, "news", NULL);
	CHECK_EQ_INT(unsub(&r, &c, "news", &out), REG_NOT_SUBSCRIBED);	/* exists, not a member */
	CHECK(out == ch);
	CHECK_EQ_INT(unsub(&r, &a, "news", &out), REG_OK);
	CHECK(out == ch);
	CHECK_EQ_INT(registry_check(&r), 0);
	CHECK(!registry_is_member(&a, ch));
	CHECK(registry_is_member(&b, ch));
	CHECK_EQ_INT(unsub(&r, &a, "news", &out), REG_NOT_SUBSCRIBED);
	CHECK_EQ_INT(unsub(&r, &b, "news", &out), REG_LAST);
	CHECK(out == ch);
	CHECK_EQ_INT(ch->n_members, 0);
	CHECK_EQ_INT(registry_check(&r), 0);
	/* the channel outlives its subscribers, idle */
	CHECK(find(&r, "news") == ch);
	CHECK_EQ_INT(r.n_idle, 1);
	CHECK_EQ_UINT(r.n_members, 0);
	/* a sub with no channel left holds no array */
	CHECK_EQ_INT(a.n, 0);
	CHECK(a.m == NULL);
	CHECK(b.m == NULL);
	CHECK_EQ_INT(unsub(&r, &b, "news", NULL), REG_NOT_SUBSCRIBED);
	registry_free(&r);
}

static void
registry_unsubscribe_unknown_channel(void)
{
	struct registry r;
	struct reg_sub a = { 0 };
	struct reg_channel *out = (struct reg_channel *)&r;

	registry_init(&r);
	CHECK_EQ_INT(unsub(&r, &a, "nothing", &out), REG_NOT_SUBSCRIBED);
	CHECK(out == NULL);
	CHECK_EQ_INT(r.n_channels, 0);	/* not created by a failed unsubscribe */
	registry_free(&r);
}

static void
registry_resubscribe_after_last(void)
{
	struct registry r;
	struct reg_sub a = { 0 };
	struct reg_channel *ch, *ch2;

	registry_init(&r);
	CHECK_EQ_INT(sub(&r, &a, "news", &ch), REG_FIRST);
	CHECK_EQ_INT(unsub(&r, &a, "news", NULL), REG_LAST);
	CHECK_EQ_INT(sub(&r, &a, "news", &ch2), REG_FIRST);
	CHECK(ch2 == ch);		/* same channel object, taken off the idle list */
	CHECK_EQ_INT(r.n_idle, 0);
	CHECK_EQ_INT(registry_check(&r), 0);
	registry_unsubscribe_all(&r, &a, NULL, NULL);
	registry_free(&r);
}

static void
registry_unsubscribe_all_reports_emptied_channels(void)
{
	struct registry r;
	struct reg_sub a = { 0 }, b = { 0 };
	struct reg_channel *c1, *c2, *c3, *c4;
	struct left l = { .n = 0 };

	registry_init(&r);
	sub(&r, &a, "c1", &c1);
	sub(&r, &a, "c2", &c2);
	sub(&r, &a, "c3", &c3);
	sub(&r, &b, "c2", NULL);
	sub(&r, &b, "c4", &c4);
	registry_unsubscribe_all(&r, &a, record_left, &l);
	CHECK_EQ_INT(l.n, 2);
	CHECK_EQ_INT(left_has(&l, c1), 1);
	CHECK_EQ_INT(left_has(&l, c3), 1);
	CHECK_EQ_INT(left_has(&l, c2), 0);
	CHECK_EQ_INT(left_has(&l, c4), 0);
	CHECK_EQ_INT(a.n, 0);
	CHECK(a.m == NULL);
	CHECK_EQ_INT(a.cap, 0);
	CHECK_EQ_INT(c2->n_members, 1);
	CHECK_EQ_INT(registry_check(&r), 0);
	CHECK_EQ_INT(r.n_idle, 2);
	/* again on an empty sub: nothing reported */
	l.n = 0;
	registry_unsubscribe_all(&r, &a, record_left, &l);
	CHECK_EQ_INT(l.n, 0);
	registry_unsubscribe_all(&r, &b, record_left, &l);
	CHECK_EQ_INT(l.n, 2);
	CHECK_EQ_INT(left_has(&l, c2), 1);
	CHECK_EQ_INT(left_has(&l, c4), 1);
	CHECK_EQ_INT(registry_check(&r), 0);
	CHECK_EQ_UINT(r.n_members, 0);
	registry_free(&r);
}

static void
registry_is_member_cases(void)
{
	struct registry r;
	struct reg_sub a = { 0 }, b = { 0 };
	struct reg_channel *x, *y;

	registry_init(&r);
	sub(&r, &a, "x", &x);
	sub(&r, &b, "y", &y);
	CHECK(registry_is_member(&a, x));
	CHECK(!registry_is_member(&a, y));
	CHECK(!registry_is_member(&b, x));
	CHECK(registry_is_member(&b, y));
	registry_unsubscribe_all(&r, &a, NULL, NULL);
	registry_unsubscribe_all(&r, &b, NULL, NULL);
	CHECK(!registry_is_member(&a, x));
	registry_free(&r);
}

static void
registry_subscribe_rejects_too_long_name(void)
{
	struct registry r;
	struct reg_sub a = { 0 };
	char name[CHNAME_MAX + 2];

	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	registry_init(&r);
	CHECK_EQ_INT(sub(&r, &a, name, NULL), REG_ERR);
	CHECK_EQ_INT(r.n_channels, 0);
	CHECK_EQ_INT(a.n, 0);
	CHECK_EQ_INT(registry_check(&r), 0);
	name[CHNAME_MAX] = '\0';	/* exactly CHNAME_MAX fits */
	CHECK_EQ_INT(sub(&r, &a, name, NULL), REG_FIRST);
	CHECK(find(&r, name) != NULL);
	registry_unsubscribe_all(&r, &a, NULL, NULL);
	registry_free(&r);
}

static void
registry_dirty_list_idempotent(void)
{
	struct registry r;
	struct reg_sub a = { 0 };
	struct reg_channel *x, *y, *z, *p, *q, *s;

	registry_init(&r);
	sub(&r, &a, "x", &x);
	sub(&r, &a, "y", &y);
	sub(&r, &a, "z", &z);
	registry_mark_dirty(&r, x);
	registry_mark_dirty(&r, x);
	registry_mark_dirty(&r, x);
	CHECK_EQ_INT(x->dirty, 1);
	CHECK(registry_pop_dirty(&r) == x);
	CHECK_EQ_INT(x->dirty, 0);
	CHECK(registry_pop_dirty(&r) == NULL);
	/* several: each popped exactly once */
	registry_mark_dirty(&r, x);
	registry_mark_dirty(&r, y);
	registry_mark_dirty(&r, x);
	registry_mark_dirty(&r, z);
	registry_mark_dirty(&r, y);
	p = registry_pop_dirty(&r);
	q = registry_pop_dirty(&r);
	s = registry_pop_dirty(&r);
	CHECK(registry_pop_dirty(&r) == NULL);
	CHECK(p && q && s && p != q && q != s && p != s);
	CHECK((p == x || p == y || p == z) && (q == x || q == y || q == z) &&
	      (s == x || s == y || s == z));
	CHECK(!x->dirty && !y->dirty && !z->dirty);
	/* marked again after a pop: back on the list */
	registry_mark_dirty(&r, y);
	CHECK(registry_pop_dirty(&r) == y);
	CHECK(registry_pop_dirty(&r) == NULL);
	CHECK_EQ_INT(registry_check(&r), 0);
	registry_unsubscribe_all(&r, &a, NULL, NULL);
	registry_free(&r);
}

static void
registry_dirty_list_fifo_and_clear(void)
{
	struct registry r;
	struct reg_sub a = { 0 };
	struct reg_channel *x, *y, *z;

	registry_init(&r);
	sub(&r, &a, "x", &x);
	sub(&r, &a, "y", &y);
	sub(&r, &a, "z", &z);
	/* popped in the order marked: joins go out in the order asked */
	registry_mark_dirty(&r, z);
	registry_mark_dirty(&r, x);
	registry_mark_dirty(&r, y);
	registry_mark_dirty(&r, z);	/* already on: keeps its place */
	CHECK_EQ_INT(registry_check(&r), 0);
	CHECK(registry_pop_dirty(&r) == z);
	CHECK(registry_pop_dirty(&r) == x);
	CHECK(registry_pop_dirty(&r) == y);
	CHECK(registry_pop_dirty(&r) == NULL);
	/* cleared from the middle, the head and the tail */
	registry_mark_dirty(&r, x);
	registry_mark_dirty(&r, y);
	registry_mark_dirty(&r, z);
	registry_clear_dirty(&r, y);
	CHECK_EQ_INT(y->dirty, 0);
	CHECK_EQ_INT(registry_check(&r), 0);
	registry_clear_dirty(&r, y);	/* not on it: nothing happens */
	CHECK_EQ_INT(registry_check(&r), 0);
	registry_clear_dirty(&r, x);
	CHECK(r.dirty_head == z && r.dirty_tail == z);
	CHECK_EQ_INT(registry_check(&r), 0);
	registry_clear_dirty(&r, z);
	CHECK(r.dirty_head == NULL && r.dirty_tail == NULL);
	CHECK_EQ_INT(registry_check(&r), 0);
	/* a dirty channel freed with the registry leaves nothing behind */
	registry_mark_dirty(&r, y);
	registry_unsubscribe_all(&r, &a, NULL, NULL);
	CHECK_EQ_INT(registry_check(&r), 0);
	registry_free(&r);
}

static void
registry_up_action_cases(void)
{
	struct registry r;
	struct reg_sub a = { 0 };
	struct reg_channel *ch;
	uint64_t due = 0;

	registry_init(&r);
	sub(&r, &a, "news", &ch);
	ch->want_changed_ms = 1000;
	/* wanted: join unless UW has it (acked, waiting for the ack, refused) */
	CHECK_EQ_INT(registry_up_action(ch, 1000, 5000, &due), REG_UP_JOIN);
	ch->up_state = UPCH_JOIN_SENT;
	CHECK_EQ_INT(registry_up_action(ch, 1000, 5000, &due), REG_UP_NOTHING);
	ch->up_state = UPCH_ACKED;
	CHECK_EQ_INT(registry_up_action(ch, 1000, 5000, &due), REG_UP_NOTHING);
	ch->up_state = UPCH_ACK_FAILED;
	CHECK_EQ_INT(registry_up_action(ch, 1000, 5000, &due), REG_UP_NOTHING);
	/* unwanted and joined: lingers until want_changed_ms + linger */
	CHECK_EQ_INT(unsub(&r, &a, "news", NULL), REG_LAST);
	ch->up_state = UPCH_ACKED;
	ch->want_changed_ms = 1000;
	CHECK_EQ_INT(registry_up_action(ch, 1000, 5000, &due), REG_UP_LINGER);
	CHECK_EQ_UINT(due, 6000);
	CHECK_EQ_INT(registry_up_action(ch, 5999, 5000, &due), REG_UP_LINGER);
	CHECK_EQ_INT(registry_up_action(ch, 6000, 5000, &due), REG_UP_LEAVE);
	CHECK_EQ_INT(registry_up_action(ch, UINT64_MAX, 5000, &due), REG_UP_LEAVE);
	/* no linger: at once, even at time zero */
	ch->want_changed_ms = 0;
	CHECK_EQ_INT(registry_up_action(ch, 0, 0, &due), REG_UP_LEAVE);
	/* a huge linger does not wrap around into "due long ago" */
	ch->want_changed_ms = 1000;
	CHECK_EQ_INT(registry_up_action(ch, 2000, UINT64_MAX, &due), REG_UP_LINGER);
	CHECK_EQ_UINT(due, UINT64_MAX);
	/* a clock behind want_changed_ms: still lingering */
	CHECK_EQ_INT(registry_up_action(ch, 10, 5000, &due), REG_UP_LINGER);
	/* unwanted and not joined (left, or never joined): nothing */
	ch->up_state = UPCH_NONE;
	CHECK_EQ_INT(registry_up_action(ch, 99999, 5000, &due), REG_UP_NOTHING);
	/* back during the linger: nothing to send, no second join */
	ch->up_state = UPCH_ACKED;
	CHECK_EQ_INT(sub(&r, &a, "news", NULL), REG_FIRST);
	CHECK_EQ_INT(registry_up_action(ch, 2000, 5000, &due), REG_UP_NOTHING);
	registry_unsubscribe_all(&r, &a, NULL, NULL);
	ch->up_state = UPCH_NONE;
	registry_free(&r);
}

static void
registry_seq_monotonic(void)
{
	struct registry r;
	struct reg_sub a = { 0 };
	struct reg_channel *ch, *ch2;

	registry_init(&r);
	sub(&r, &a, "news", &ch);
	CHECK_EQ_UINT(ch->seq, 0);
	CHECK_EQ_UINT(registry_next_seq(ch), 1);
	CHECK_EQ_UINT(registry_next_seq(ch), 2);
	CHECK_EQ_UINT(registry_next_seq(ch), 3);
	CHECK_EQ_UINT(ch->seq, 3);
	/* leaving and coming back keeps the channel and its seq */
	registry_unsubscribe_all(&r, &a, NULL, NULL);
	CHECK_EQ_INT(sub(&r, &a, "news", &ch2), REG_FIRST);
	CHECK(ch2 == ch);
	CHECK_EQ_UINT(registry_next_seq(ch2), 4);
	/* seqs are per channel */
	sub(&r, &a, "other", &ch2);
	CHECK_EQ_UINT(registry_next_seq(ch2), 1);
	registry_unsubscribe_all(&r, &a, NULL, NULL);
	registry_free(&r);
}

struct evicted {
	unsigned n;
	uint64_t max_seq;
};

static void
count_evict(struct reg_channel *ch, void *arg)
{
	struct evicted *e = arg;

	e->n++;
	if (ch->seq > e->max_seq)
		e->max_seq = ch->seq;
	free(ch->user);
	ch->user = NULL;
}

static void
registry_eviction_keeps_seq_monotonic(void)
{
	struct registry r;
	struct reg_sub a = { 0 };
	struct reg_channel *ch;
	struct evicted ev = { 0, 0 };
	const unsigned total = REGISTRY_MAX_IDLE + 100;
	uint64_t last;

	registry_init(&r);
	r.on_evict = count_evict;
	r.evict_arg = &ev;
	/* ch_0 carries frames, then goes idle first: the oldest */
	sub(&r, &a, cname(0), &ch);
	for (int i = 0; i < 500; i++)
		registry_next_seq(ch);
	last = ch->seq;
	CHECK_EQ_UINT(last, 500);
	CHECK_EQ_INT(ch->up_state, UPCH_NONE);
	registry_unsubscribe_all(&r, &a, NULL, NULL);
	for (unsigned i = 1; i < total; i++) {
		sub(&r, &a, cname(i), &ch);
		ch->user = malloc(16);	/* freed by on_evict */
		registry_unsubscribe_all(&r, &a, NULL, NULL);
		if (registry_check(&r)) {
			CHECK(!"registry_check failed while idling");
			break;
		}
	}
	CHECK_EQ_INT(r.n_idle, REGISTRY_MAX_IDLE);
	CHECK_EQ_INT(r.n_channels, REGISTRY_MAX_IDLE);
	CHECK_EQ_UINT(ev.n, total - REGISTRY_MAX_IDLE);
	CHECK(find(&r, cname(0)) == NULL);	/* oldest went first */
	CHECK(find(&r, cname(99)) == NULL);
	CHECK(find(&r, cname(100)) != NULL);
	CHECK(find(&r, cname(total - 1)) != NULL);
	CHECK(r.seq_floor >= last);
	/* ch_0 created again never sees its seq go backwards */
	CHECK_EQ_INT(sub(&r, &a, cname(0), &ch), REG_FIRST);
	CHECK(registry_next_seq(ch) > last);
	/* nor does any name created after the eviction go below the floor */
	sub(&r, &a, "brand_new", &ch);
	CHECK(registry_next_seq(ch) > last);
	CHECK_EQ_INT(registry_check(&r), 0);
	registry_unsubscribe_all(&r, &a, NULL, NULL);
	registry_free(&r);
	CHECK_EQ_UINT(ev.n, total + 2);	/* registry_free calls on_evict for the rest */
}

static void
registry_eviction_oldest_idle_first(void)
{
	struct registry r;
	struct reg_sub a = { 0 }, b = { 0 };
	const unsigned total = REGISTRY_MAX_IDLE + 10;

	registry_init(&r);
	/* idle them one by one with registry_unsubscribe, which does not evict
	 * (its *out must stay valid) */
	for (unsigned i = 0; i < total; i++) {
		sub(&r, &a, cname(i), NULL);
		CHECK_EQ_INT(unsub(&r, &a, cname(i), NULL), REG_LAST);
	}
	CHECK_EQ_INT(r.n_idle, total);
	CHECK_EQ_INT(registry_check(&r), 0);
	/* a session closing runs the eviction: 11 go, the oldest */
	sub(&r, &b, "z", NULL);
	registry_unsubscribe_all(&r, &b, NULL, NULL);
	CHECK_EQ_INT(r.n_idle, REGISTRY_MAX_IDLE);
	for (unsigned i = 0; i <= 10; i++)
		CHECK(find(&r, cname(i)) == NULL);
	CHECK(find(&r, cname(11)) != NULL);
	CHECK(find(&r, "z") != NULL);
	CHECK_EQ_INT(registry_check(&r), 0);
	registry_free(&r);
}

static void
registry_eviction_skips_joined_and_dirty(void)
{
	struct registry r;
	struct reg_sub a = { 0 };
	struct reg_channel *ch;
	const unsigned total = REGISTRY_MAX_IDLE + 5;

	registry_init(&r);
	for (unsigned i = 0; i < total; i++) {
		sub(&r, &a, cname(i), &ch);
		if (i == 0)
			ch->up_state = UPCH_ACKED;	/* still joined upstream */
		if (i == 1)
			ch->up_state = UPCH_JOIN_SENT;
		if (i == 2)
			registry_mark_dirty(&r, ch);	/* waiting for a leave */
		registry_unsubscribe_all(&r, &a, NULL, NULL);
	}
	CHECK(find(&r, cname(0)) != NULL);
	CHECK(find(&r, cname(1)) != NULL);
	CHECK(find(&r, cname(2)) != NULL);
	/* 5 over the cap, 3 protected: the next 5 oldest went */
	CHECK(find(&r, cname(3)) == NULL);
	CHECK(find(&r, cname(7)) == NULL);
	CHECK(find(&r, cname(8)) != NULL);
	CHECK_EQ_INT(r.n_idle, REGISTRY_MAX_IDLE);
	CHECK_EQ_INT(registry_check(&r), 0);
	/* the dirty one is still poppable, and evictable once clean */
	ch = registry_pop_dirty(&r);
	CHECK(ch == find(&r, cname(2)));
	CHECK(registry_pop_dirty(&r) == NULL);
	sub(&r, &a, "again", NULL);
	registry_unsubscribe_all(&r, &a, NULL, NULL);
	CHECK(find(&r, cname(2)) == NULL);
	CHECK(find(&r, cname(0)) != NULL);
	CHECK_EQ_INT(registry_check(&r), 0);
	registry_free(&r);
}

static void
registry_iteration_visits_each_channel_once(void)
{
	struct registry r;
	struct reg_sub a = { 0 };
	enum { N = 1000 };
	static unsigned char seen[N];
	uint32_t it;
	unsigned n = 0, dup = 0;

	memset(seen, 0, sizeof(seen));
	registry_init(&r);
	for (unsigned i = 0; i < N; i++)
		sub(&r, &a, cname(i), NULL);	/* grows the hash table several times */
	CHECK_EQ_INT(r.n_channels, N);
	CHECK_EQ_INT(registry_check(&r), 0);
	for (struct reg_channel *ch = registry_first(&r, &it); ch; ch = registry_next(&r, ch, &it)) {
		unsigned i = (unsigned)atoi(ch->name + 3);

		if (i < N) {
			dup += seen[i];
			seen[i] = 1;
		}
		n++;
	}
	CHECK_EQ_INT(n, N);
	CHECK_EQ_INT(dup, 0);
	registry_unsubscribe_all(&r, &a, NULL, NULL);
	registry_free(&r);
}

static void
registry_many_subscribers_one_channel(void)
{
	struct registry r;
	enum { N = 1000 };
	static struct reg_sub s[N];
	unsigned order[N];
	struct reg_channel *ch = NULL;

	memset(s, 0, sizeof(s));
	registry_init(&r);
	for (unsigned i = 0; i < N; i++)
		CHECK_EQ_INT(sub(&r, &s[i], "flow-alerts", &ch), i ? REG_OK : REG_FIRST);
	CHECK_EQ_INT(ch->n_members, N);
	CHECK_EQ_INT(registry_check(&r), 0);
	for (unsigned i = 0; i < N; i++)
		order[i] = i;
	for (unsigned i = N - 1; i > 0; i--) {
		unsigned j = rnd(i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned i = 0; i < N; i++) {
		int rc = unsub(&r, &s[order[i]], "flow-alerts", NULL);

		CHECK_EQ_INT(rc, i == N - 1 ? REG_LAST : REG_OK);
		if (i % 50 == 0)
			CHECK_EQ_INT(registry_check(&r), 0);
	}
	CHECK_EQ_INT(ch->n_members, 0);
	CHECK(ch->members == NULL);	/* the big array was given back */
	CHECK_EQ_INT(registry_check(&r), 0);
	registry_free(&r);
}

static void
registry_one_subscriber_many_channels(void)
{
	struct registry r;
	struct reg_sub a = { 0 };
	struct left l = { .n = 0 };
	enum { N = 3000 };

	registry_init(&r);
	for (unsigned i = 0; i < N; i++)
		CHECK_EQ_INT(sub(&r, &a, cname(i), NULL), REG_FIRST);
	CHECK_EQ_INT(a.n, N);
	CHECK_EQ_INT(registry_check(&r), 0);
	for (unsigned i = 0; i < N; i += 2)
		CHECK_EQ_INT(unsub(&r, &a, cname(i), NULL), REG_LAST);
	CHECK_EQ_INT(a.n, N / 2);
	CHECK_EQ_INT(registry_check(&r), 0);
	registry_unsubscribe_all(&r, &a, record_left, &l);
	CHECK_EQ_INT(l.n, N / 2);
	CHECK_EQ_INT(registry_check(&r), 0);
	registry_free(&r);
}

/* Thousands of random operations against a plain model. */
enum { MS = 40, MC = 150 };

struct model {
	unsigned char member[MS][MC];
	unsigned count[MC];
	unsigned char exists[MC];
	uint64_t total;
};

static int
model_check(struct registry *r, struct reg_sub *s, const struct model *m)
{
	uint32_t nch = 0, idle = 0;
	int bad = 0;

	if (registry_check(r))
		return -1;
	if (r->n_members != m->total)
		return -2;
	for (unsigned c = 0; c < MC; c++) {
		struct reg_channel *ch = find(r, cname(c));

		if (!m->exists[c]) {
			bad |= ch != NULL;
			continue;
		}
		if (!ch)
			return -3;
		nch++;
		idle += m->count[c] == 0;
		if (ch->n_members != m->count[c])
			return -4;
		for (unsigned i = 0; i < MS; i++)
			if (registry_is_member(&s[i], ch) != m->member[i][c])
				return -5;
	}
	if (bad)
		return -6;
	if (r->n_channels != nch || r->n_idle != idle)
		return -7;
	for (unsigned i = 0; i < MS; i++) {
		unsigned n = 0;

		for (unsigned c = 0; c < MC; c++)
			n += m->member[i][c];
		if (s[i].n != n)
			return -8;
	}
	return 0;
}

static void
registry_randomized_against_model(void)
{
	struct registry r;
	static struct reg_sub s[MS];
	static struct model m;
	unsigned ops = 20000, failures = 0;

	memset(s, 0, sizeof(s));
	memset(&m, 0, sizeof(m));
	registry_init(&r);
	for (unsigned op = 0; op < ops && failures < 5; op++) {
		unsigned i = rnd(MS), c = rnd(MC), kind = rnd(100);
		int rc, want, err;

		if (kind < 50) {
			struct reg_channel *ch = NULL;

			want = m.member[i][c] ? REG_ALREADY : m.count[c] ? REG_OK : REG_FIRST;
			rc = sub(&r, &s[i], cname(c), &ch);
			if (rc != REG_ALREADY) {
				m.member[i][c] = 1;
				m.count[c]++;
				m.total++;
			}
			m.exists[c] = 1;
			if (ch != find(&r, cname(c)))
				rc = -100;
		} else if (kind < 88) {
			want = !m.member[i][c] ? REG_NOT_SUBSCRIBED : m.count[c] == 1 ? REG_LAST : REG_OK;
			rc = unsub(&r, &s[i], cname(c), NULL);
			if (m.member[i][c]) {
				m.member[i][c] = 0;
				m.count[c]--;
				m.total--;
			}
		} else if (kind < 93) {
			struct left l = { .n = 0 };
			int expect_n = 0, match = 1;

			for (unsigned k = 0; k < MC; k++)
				expect_n += m.member[i][k] && m.count[k] == 1;
			registry_unsubscribe_all(&r, &s[i], record_left, &l);
			for (unsigned k = 0; k < MC; k++)
				if (m.member[i][k]) {
					if (m.count[k] == 1 && left_has(&l, find(&r, cname(k))) != 1)
						match = 0;
					if (m.count[k] > 1 && left_has(&l, find(&r, cname(k))))
						match = 0;
					m.member[i][k] = 0;
					m.count[k]--;
					m.total--;
				}
			want = expect_n;
			rc = match ? l.n : -200;
		} else {
			struct reg_channel *ch = find(&r, cname(c));

			if (ch) {
				registry_mark_dirty(&r, ch);
				registry_mark_dirty(&r, ch);
			}
			if (rnd(2)) {
				while (registry_pop_dirty(&r))
					;
			}
			want = rc = 0;
		}
		if (rc != want) {
			printf("  op %u (kind %u, sub %u, %s): got %d, want %d\n", op, kind, i, cname(c),
			       rc, want);
			CHECK_EQ_INT(rc, want);
			failures++;
		}
		err = model_check(&r, s, &m);
		if (err) {
			printf("  op %u: model check %d\n", op, err);
			CHECK_EQ_INT(err, 0);
			failures++;
		}
	}
	for (unsigned i = 0; i < MS; i++)
		registry_unsubscribe_all(&r, &s[i], NULL, NULL);
	CHECK_EQ_INT(registry_check(&r), 0);
	CHECK_EQ_UINT(r.n_members, 0);
	registry_free(&r);
}

/* Random churn over more names than REGISTRY_MAX_IDLE: evictions happen,
 * and no name may ever see its seq go backwards. */
static void
registry_randomized_eviction_seq_never_backwards(void)
{
	enum { NS = 6, NC = REGISTRY_MAX_IDLE + 1500 };
	struct registry r;
	struct reg_sub s[NS];
	static uint64_t last_seq[NC];
	static unsigned char member[NS][NC];
	struct evicted ev = { 0, 0 };
	unsigned failures = 0;

	memset(s, 0, sizeof(s));
	memset(last_seq, 0, sizeof(last_seq));
	memset(member, 0, sizeof(member));
	registry_init(&r);
	r.on_evict = count_evict;
	r.evict_arg = &ev;
	for (unsigned op = 0; op < 40000 && failures < 5; op++) {
		unsigned i = rnd(NS), c = rnd(NC);

		if (rnd(8)) {
			struct reg_channel *ch = NULL;
			uint64_t q;

			sub(&r, &s[i], cname(c), &ch);
			member[i][c] = 1;
			if (!ch) {
				CHECK(ch != NULL);
				failures++;
				continue;
			}
			q = registry_next_seq(ch);
			if (q <= last_seq[c]) {
				printf("  op %u: %s seq %llu after %llu\n", op, cname(c),
				       (unsigned long long)q, (unsigned long long)last_seq[c]);
				CHECK(q > last_seq[c]);
				failures++;
			}
			last_seq[c] = q;
		} else {
			registry_unsubscribe_all(&r, &s[i], NULL, NULL);
			memset(member[i], 0, NC);
			if (r.n_idle > REGISTRY_MAX_IDLE) {
				CHECK(r.n_idle <= REGISTRY_MAX_IDLE);
				failures++;
			}
		}
		if (op % 64 == 0) {
			int err = registry_check(&r);

			if (err) {
				CHECK_EQ_INT(err, 0);
				failures++;
			}
			/* channels with subscribers are never evicted */
			for (unsigned k = 0; k < NS; k++)
				for (unsigned x = 0; x < NC; x++)
					if (member[k][x]) {
						struct reg_channel *ch = find(&r, cname(x));

						if (!ch || !registry_is_member(&s[k], ch)) {
							CHECK(!"subscribed channel missing");
							failures++;
							x = NC;
							k = NS;
						}
					}
		}
	}
	CHECK(ev.n > 0);	/* the test did exercise eviction */
	for (unsigned i = 0; i < NS; i++)
		registry_unsubscribe_all(&r, &s[i], NULL, NULL);
	CHECK_EQ_INT(registry_check(&r), 0);
	registry_free(&r);
}

static void
registry_free_releases_channel_state(void)
{
	uint64_t live = frame_live_count();
	struct registry r;
	struct reg_sub a = { 0 };
	struct reg_channel *ch;
	struct evicted ev = { 0, 0 };
	struct frame *f = frame_new(10);

	registry_init(&r);
	r.on_evict = count_evict;
	r.evict_arg = &ev;
	sub(&r, &a, "news", &ch);
	ch->user = malloc(32);
	f->seq = registry_next_seq(ch);
	CHECK_EQ_INT(history_add(&ch->hist, f, 10, 1 << 20), 0);
	frame_unref(f);
	sub(&r, &a, "idle", &ch);
	ch->user = malloc(32);
	unsub(&r, &a, "idle", NULL);
	registry_unsubscribe_all(&r, &a, NULL, NULL);
	registry_free(&r);
	CHECK_EQ_UINT(ev.n, 2);		/* on_evict for every channel */
	CHECK_EQ_UINT(frame_live_count(), live);	/* history frames released */
}

static void
registry_free_with_subscribers_present_leaks_nothing(void)
{
	size_t before, after;
	struct registry r;
	static struct reg_sub s[20];

	memset(s, 0, sizeof(s));
	/* no stdio between the two measurements */
	before = check_heap_in_use();
	registry_init(&r);
	for (unsigned i = 0; i < 20; i++)
		for (unsigned c = 0; c < 30; c++)
			if ((i + c) % 3)
				sub(&r, &s[i], cname(c), NULL);
	/* the subscribers still hold their channels: registry_free must free
	 * memberships, channels, and the subscribers' arrays (registry.h) */
	registry_free(&r);
	after = check_heap_in_use();
	CHECK_EQ_UINT(after, before);
	/* the owners forget their subscribers, as they must; under LSan
	 * whatever registry_free left behind is now unreachable */
	memset(s, 0, sizeof(s));
	CHECK_NO_LEAKS();
}

/* registry_membership finds s's own membership (the one its filter hangs
 * on), starts with no filter, and follows a swap-remove. */
static void
registry_membership_cases(void)
{
	struct registry r;
	struct reg_sub a = { 0 }, b = { 0 };
	struct reg_channel *x, *y;
	struct reg_member *m;

	CHECK_EQ_INT(registry_init(&r), 0);
	sub(&r, &a, "x", &x);
	sub(&r, &a, "y", &y);
	sub(&r, &b, "y", NULL);
	m = registry_membership(&a, y);
	CHECK(m != NULL && m->sub == &a && m->ch == y && m->filter == NULL);
	CHECK(registry_membership(&b, x) == NULL);
	m->filter = &b;		/* any pointer: the registry never reads it */
	unsub(&r, &a, "x", NULL);	/* moves y's membership within a's array */
	m = registry_membership(&a, y);
	CHECK(m != NULL && m->filter == &b);
	CHECK_EQ_INT(registry_check(&r), 0);
	registry_free(&r);
}

static void
registry_no_frame_left_alive(void)
{
	CHECK_EQ_UINT(frame_live_count(), 0);
}

CHECK_MAIN(
	CHECK_TEST(registry_init_and_free_empty),
	CHECK_TEST(registry_first_then_ok_then_already),
	CHECK_TEST(registry_unsubscribe_ok_then_last),
	CHECK_TEST(registry_unsubscribe_unknown_channel),
	CHECK_TEST(registry_resubscribe_after_last),
	CHECK_TEST(registry_unsubscribe_all_reports_emptied_channels),
	CHECK_TEST(registry_is_member_cases),
	CHECK_TEST(registry_membership_cases),
	CHECK_TEST(registry_subscribe_rejects_too_long_name),
	CHECK_TEST(registry_dirty_list_idempotent),
	CHECK_TEST(registry_dirty_list_fifo_and_clear),
	CHECK_TEST(registry_up_action_cases),
	CHECK_TEST(registry_seq_monotonic),
	CHECK_TEST(registry_eviction_keeps_seq_monotonic),
	CHECK_TEST(registry_eviction_oldest_idle_first),
	CHECK_TEST(registry_eviction_skips_joined_and_dirty),
	CHECK_TEST(registry_iteration_visits_each_channel_once),
	CHECK_TEST(registry_many_subscribers_one_channel),
	CHECK_TEST(registry_one_subscriber_many_channels),
	CHECK_TEST(registry_randomized_against_model),
	CHECK_TEST(registry_randomized_eviction_seq_never_backwards),
	CHECK_TEST(registry_free_releases_channel_state),
	CHECK_TEST(registry_free_with_subscribers_present_leaks_nothing),
	CHECK_TEST(registry_no_frame_left_alive))
