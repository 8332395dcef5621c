/* test_outq.c: a subscriber's bounded ring of shared frame references. */
#include "frame.h"
#include "outq.h"
#include "check.h"

/* A frame whose seq says which one it is. */
static struct frame *
mk(uint64_t seq, size_t len)
{
	struct frame *f = frame_new(len);

	if (f) {
		memset(frame_data(f), 'x', len);
		f->seq = seq;
	}
	return f;
}

static void
outq_push_pop_order(void)
{
	uint64_t live = frame_live_count();
	struct outq q = { 0 };
	struct frame *f[5];

	for (int i = 0; i < 5; i++) {
		f[i] = mk((uint64_t)i + 1, 10);
		CHECK_EQ_INT(outq_push(&q, f[i], SIZE_MAX), 0);
		CHECK_EQ_INT(f[i]->refs, 2);
	}
	CHECK_EQ_INT(q.count, 5);
	for (int i = 0; i < 5; i++) {
		CHECK(outq_peek(&q) == f[i]);
		CHECK(outq_peek(&q) == f[i]);	/* peek does not consume */
		outq_pop(&q);
		CHECK_EQ_INT(f[i]->refs, 1);
	}
	CHECK(outq_peek(&q) == NULL);
	CHECK_EQ_INT(q.count, 0);
	CHECK_EQ_UINT(q.bytes, 0);
	for (int i = 0; i < 5; i++)
		frame_unref(f[i]);
	outq_clear(&q);
	CHECK_EQ_UINT(frame_live_count(), live);
}

static void
outq_empty_queue_operations(void)
{
	struct outq q = { 0 };

	CHECK(outq_peek(&q) == NULL);
	outq_pop(&q);		/* no-op */
	outq_clear(&q);		/* accepts a zeroed queue */
	outq_clear(&q);
	CHECK(q.ring == NULL);
	CHECK_EQ_INT(q.count, 0);
	CHECK_EQ_INT(q.cap, 0);
}

static void
outq_bytes_accounting(void)
{
	struct outq q = { 0 };
	struct frame *a = mk(1, 100), *b = mk(2, 3000);

	CHECK_EQ_INT(outq_push(&q, a, SIZE_MAX), 0);
	CHECK_EQ_UINT(q.bytes, frame_cost(a));
	CHECK_EQ_INT(outq_push(&q, b, SIZE_MAX), 0);
	CHECK_EQ_UINT(q.bytes, frame_cost(a) + frame_cost(b));
	outq_pop(&q);
	CHECK_EQ_UINT(q.bytes, frame_cost(b));
	outq_pop(&q);
	CHECK_EQ_UINT(q.bytes, 0);
	frame_unref(a);
	frame_unref(b);
	outq_clear(&q);
}

static void
outq_ring_wraps_around(void)
{
	uint64_t live = frame_live_count();
	struct outq q = { 0 };
	uint64_t next_in = 1, next_out = 1;

	/* keep 5..8 in a ring of 8 for many rounds: the head walks around it */
	for (int i = 0; i < 5; i++) {
		struct frame *f = mk(next_in++, 8);

		CHECK_EQ_INT(outq_push(&q, f, SIZE_MAX), 0);
		frame_unref(f);
	}
	for (int round = 0; round < 100; round++) {
		for (int i = 0; i < 3; i++) {
			struct frame *f = mk(next_in++, 8);

			CHECK_EQ_INT(outq_push(&q, f, SIZE_MAX), 0);
			frame_unref(f);
		}
		for (int i = 0; i < 3; i++) {
			CHECK(outq_peek(&q) != NULL);
			if (outq_peek(&q))
				CHECK_EQ_UINT(outq_peek(&q)->seq, next_out);
			next_out++;
			outq_pop(&q);
		}
		CHECK_EQ_INT(q.count, 5);
	}
	CHECK_EQ_INT(q.cap, 8);		/* never needed to grow */
	while (q.count) {
		CHECK_EQ_UINT(outq_peek(&q)->seq, next_out);
		next_out++;
		outq_pop(&q);
	}
	CHECK_EQ_UINT(next_out, next_in);
	outq_clear(&q);
	CHECK_EQ_UINT(frame_live_count(), live);
}

static void
outq_grows_while_wrapped(void)
{
	uint64_t live = frame_live_count();
	struct outq q = { 0 };
	uint64_t next_in = 1, next_out = 1;

	/* fill 8, drop 5, add 5 (head at 5, wrapped), then grow to 16, 32 */
	for (int i = 0; i < 8; i++) {
		struct frame *f = mk(next_in++, 1);

		outq_push(&q, f, SIZE_MAX);
		frame_unref(f);
	}
	for (int i = 0; i < 5; i++) {
		next_out++;
		outq_pop(&q);
	}
	for (int i = 0; i < 5; i++) {
		struct frame *f = mk(next_in++, 1);

		outq_push(&q, f, SIZE_MAX);
		frame_unref(f);
	}
	CHECK_EQ_INT(q.cap, 8);
	CHECK(q.head != 0);
	for (int i = 0; i < 20; i++) {
		struct frame *f = mk(next_in++, 1);

		CHECK_EQ_INT(outq_push(&q, f, SIZE_MAX), 0);
		frame_unref(f);
	}
	CHECK_EQ_INT(q.cap, 32);
	CHECK_EQ_INT(q.count, 28);
	while (q.count) {
		CHECK_EQ_UINT(outq_peek(&q)->seq, next_out);
		next_out++;
		outq_pop(&q);
	}
	CHECK_EQ_UINT(next_out, next_in);
	outq_clear(&q);
	CHECK_EQ_UINT(frame_live_count(), live);
}

static void
outq_byte_cap_refuses_and_leaves_queue_unchanged(void)
{
	struct outq q = { 0 };
	struct frame *a = mk(1, 100), *b = mk(2, 100), *c = mk(3, 100);
	size_t cap = frame_cost(a) + frame_cost(b);	/* exactly two */
	struct frame **ring;
	uint32_t head, qcap;
	size_t bytes;

	CHECK_EQ_INT(outq_push(&q, a, cap), 0);
	CHECK_EQ_INT(outq_push(&q, b, cap), 0);		/* exactly at the cap: fits */
	ring = q.ring;
	head = q.head;
	qcap = q.cap;
	bytes = q.bytes;
	CHECK_EQ_INT(outq_push(&q, c, cap), -1);
	CHECK_EQ_INT(c->refs, 1);			/* no reference taken */
	CHECK_EQ_INT(q.count, 2);
	CHECK_EQ_UINT(q.bytes, bytes);
	CHECK(q.ring == ring);
	CHECK_EQ_INT(q.head, head);
	CHECK_EQ_INT(q.cap, qcap);
	CHECK(outq_peek(&q) == a);
	/* after one pop it fits again */
	outq_pop(&q);
	CHECK_EQ_INT(outq_push(&q, c, cap), 0);
	CHECK(outq_peek(&q) == b);
	outq_clear(&q);
	CHECK_EQ_INT(a->refs, 1);
	CHECK_EQ_INT(b->refs, 1);
	CHECK_EQ_INT(c->refs, 1);
	frame_unref(a);
	frame_unref(b);
	frame_unref(c);
}

static void
outq_byte_cap_one_byte_short(void)
{
	struct outq q = { 0 };
	struct frame *a = mk(1, 50), *b = mk(2, 50);

	CHECK_EQ_INT(outq_push(&q, a, frame_cost(a) + frame_cost(b) - 1), 0);
	CHECK_EQ_INT(outq_push(&q, b, frame_cost(a) + frame_cost(b) - 1), -1);
	CHECK_EQ_INT(q.count, 1);
	outq_clear(&q);
	frame_unref(a);
	frame_unref(b);
}

static void
outq_empty_queue_accepts_one_oversized_frame(void)
{
	struct outq q = { 0 };
	struct frame *big = mk(1, 100000), *small = mk(2, 1);

	CHECK_EQ_INT(outq_push(&q, big, 1000), 0);
	CHECK_EQ_INT(q.count, 1);
	CHECK_EQ_UINT(q.bytes, frame_cost(big));
	CHECK_EQ_INT(outq_push(&q, small, 1000), -1);	/* over the cap now */
	CHECK_EQ_INT(outq_push(&q, big, 1000), -1);
	CHECK_EQ_INT(big->refs, 2);
	CHECK_EQ_INT(small->refs, 1);
	outq_pop(&q);
	/* empty again: accepts even with a zero byte limit */
	CHECK_EQ_INT(outq_push(&q, small, 0), 0);
	CHECK_EQ_INT(outq_push(&q, small, 0), -1);
	outq_clear(&q);
	frame_unref(big);
	frame_unref(small);
}

static void
outq_count_cap(void)
{
	uint64_t live = frame_live_count();
	struct outq q = { 0 };
	struct frame *f = mk(1, 0), *g = mk(2, 0);

	for (uint32_t i = 0; i < OUTQ_MAX_COUNT; i++)
		if (outq_push(&q, f, SIZE_MAX)) {
			CHECK(!"push under the count cap refused");
			break;
		}
	CHECK_EQ_UINT(q.count, OUTQ_MAX_COUNT);
	CHECK_EQ_UINT(f->refs, OUTQ_MAX_COUNT + 1);
	CHECK_EQ_INT(outq_push(&q, g, SIZE_MAX), -1);
	CHECK_EQ_INT(outq_push(&q, f, SIZE_MAX), -1);
	CHECK_EQ_UINT(q.count, OUTQ_MAX_COUNT);
	CHECK_EQ_INT(g->refs, 1);
	CHECK_EQ_UINT(q.bytes, (uint64_t)OUTQ_MAX_COUNT * frame_cost(f));
	outq_pop(&q);
	CHECK_EQ_INT(outq_push(&q, g, SIZE_MAX), 0);
	outq_clear(&q);
	CHECK_EQ_INT(f->refs, 1);
	CHECK_EQ_INT(g->refs, 1);
	CHECK(q.ring == NULL);
	CHECK_EQ_UINT(q.bytes, 0);
	frame_unref(f);
	frame_unref(g);
	CHECK_EQ_UINT(frame_live_count(), live);
}

static void
outq_shared_frame_refcounts(void)
{
	uint64_t live = frame_live_count(), bytes = frame_live_bytes();
	struct outq q[3] = { { 0 } };
	struct frame *f = mk(1, 64);

	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(outq_push(&q[i], f, SIZE_MAX), 0);
	CHECK_EQ_INT(f->refs, 4);
	frame_unref(f);			/* the producer lets go */
	CHECK_EQ_UINT(frame_live_count(), live + 1);
	outq_pop(&q[0]);
	outq_clear(&q[1]);
	CHECK_EQ_UINT(frame_live_count(), live + 1);
	CHECK_EQ_INT(outq_peek(&q[2])->refs, 1);
	outq_clear(&q[2]);		/* the last reference frees it */
	CHECK_EQ_UINT(frame_live_count(), live);
	CHECK_EQ_UINT(frame_live_bytes(), bytes);
	outq_clear(&q[0]);
}

static void
outq_clear_releases_everything(void)
{
	uint64_t live = frame_live_count();
	struct outq q = { 0 };

	for (int i = 0; i < 1000; i++) {
		struct frame *f = mk((uint64_t)i, (size_t)i);

		CHECK_EQ_INT(outq_push(&q, f, SIZE_MAX), 0);
		frame_unref(f);
	}
	CHECK_EQ_UINT(frame_live_count(), live + 1000);
	outq_clear(&q);
	CHECK_EQ_UINT(frame_live_count(), live);
	CHECK(q.ring == NULL);
	CHECK_EQ_INT(q.cap, 0);
	CHECK_EQ_INT(q.count, 0);
	CHECK_EQ_INT(q.head, 0);
	CHECK_EQ_UINT(q.bytes, 0);
	/* usable again after a clear */
	{
		struct frame *f = mk(1, 1);

		CHECK_EQ_INT(outq_push(&q, f, SIZE_MAX), 0);
		CHECK(outq_peek(&q) == f);
		outq_clear(&q);
		frame_unref(f);
	}
}

static void
outq_grown_ring_freed_when_emptied(void)
{
	struct outq q = { 0 };
	struct frame *f = mk(1, 1);

	for (int i = 0; i < 100; i++)
		outq_push(&q, f, SIZE_MAX);
	CHECK_EQ_INT(q.cap, 128);
	while (q.count)
		outq_pop(&q);
	/* a ring grown by a burst is given back once drained */
	CHECK(q.ring == NULL);
	CHECK_EQ_INT(q.cap, 0);
	CHECK_EQ_INT(q.head, 0);
	CHECK_EQ_INT(f->refs, 1);
	/* and the queue still works */
	CHECK_EQ_INT(outq_push(&q, f, SIZE_MAX), 0);
	CHECK(outq_peek(&q) == f);
	outq_clear(&q);
	frame_unref(f);
}

static void
outq_small_ring_reusable_when_emptied(void)
{
	struct outq q = { 0 };
	struct frame *f = mk(1, 1);

	for (int i = 0; i < 3; i++)
		outq_push(&q, f, SIZE_MAX);
	while (q.count)
		outq_pop(&q);
	CHECK(outq_peek(&q) == NULL);
	CHECK_EQ_UINT(q.bytes, 0);
	CHECK_EQ_INT(outq_push(&q, f, SIZE_MAX), 0);
	CHECK(outq_peek(&q) == f);
	outq_clear(&q);
	CHECK(q.ring == NULL);
	frame_unref(f);
}

static void
outq_no_frame_left_alive(void)
{
	CHECK_EQ_UINT(frame_live_count(), 0);
	CHECK_EQ_UINT(frame_live_bytes(), 0);
}

CHECK_MAIN(
	CHECK_TEST(outq_push_pop_order),
	CHECK_TEST(outq_empty_queue_operations),
	CHECK_TEST(outq_bytes_accounting),
	CHECK_TEST(outq_ring_wraps_around),
	CHECK_TEST(outq_grows_while_wrapped),
	CHECK_TEST(outq_byte_cap_refuses_and_leaves_queue_unchanged),
	CHECK_TEST(outq_byte_cap_one_byte_short),
	CHECK_TEST(outq_empty_queue_accepts_one_oversized_frame),
	CHECK_TEST(outq_count_cap),
	CHECK_TEST(outq_shared_frame_refcounts),
	CHECK_TEST(outq_clear_releases_everything),
	CHECK_TEST(outq_grown_ring_freed_when_emptied),
	CHECK_TEST(outq_small_ring_reusable_when_emptied),
	CHECK_TEST(outq_no_frame_left_alive))
