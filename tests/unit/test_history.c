/* test_history.c: the resume ring: bounds by count and by bytes, size 0,
 * growth past the first allocation, and where a resume starts. */
#include "check.h"
#include "frame.h"
#include "history.h"

/* A frame of len bytes with the given seq; the caller holds one reference. */
static struct frame *
mk(uint64_t seq, size_t len)
{
	struct frame *f = frame_new(len);

	memset(frame_data(f), 'x', len);
	f->seq = seq;
	return f;
}

/* Adds seqs from..to (one reference each, handed to the history). */
static void
add_range(struct history *h, uint64_t from, uint64_t to, size_t len,
	  uint32_t max_count, size_t max_bytes)
{
	for (uint64_t s = from; s <= to; s++) {
		struct frame *f = mk(s, len);

		CHECK_EQ_INT(history_add(h, f, max_count, max_bytes), 0);
		frame_unref(f);
	}
}

/* The seqs held run first..last, contiguous and oldest first. */
static void
check_span(const struct history *h, uint64_t first, uint64_t last)
{
	CHECK_EQ_UINT(h->count, last - first + 1);
	CHECK_EQ_UINT(history_first_seq(h), first);
	for (uint32_t i = 0; i < h->count; i++)
		CHECK_EQ_UINT(history_at(h, i)->seq, first + i);
	CHECK(history_at(h, h->count) == NULL);
}

static void
test_empty(void)
{
	struct history h = { 0 };

	CHECK_EQ_UINT(history_first_seq(&h), 0);
	CHECK(history_at(&h, 0) == NULL);
	CHECK_EQ_UINT(history_index_after(&h, 0), 0);
	CHECK_EQ_UINT(history_index_after(&h, 99), 0);
	history_clear(&h);
	history_clear(&h);
	CHECK_EQ_UINT(frame_live_count(), 0);
}

/* Below the count bound everything stays, across the ring's growth. */
static void
test_keeps_all_under_bound(void)
{
	struct history h = { 0 };

	add_range(&h, 1, 40, 10, 100, (size_t)1 << 30);
	check_span(&h, 1, 40);
	CHECK_EQ_UINT(frame_live_count(), 40);
	CHECK_EQ_UINT(h.bytes, frame_live_bytes());
	history_clear(&h);
	CHECK_EQ_UINT(frame_live_count(), 0);
	CHECK(h.ring == NULL && h.count == 0 && h.bytes == 0);
}

/* Past max_count the oldest go, one per new frame, in order; the ring
 * wraps and never grows past max_count slots. */
static void
test_evicts_by_count(void)
{
	struct history h = { 0 };

	add_range(&h, 1, 1000, 5, 37, (size_t)1 << 30);
	check_span(&h, 964, 1000);
	CHECK(h.cap <= 37);
	CHECK_EQ_UINT(frame_live_count(), 37);
	CHECK_EQ_UINT(h.bytes, 37 * frame_cost(history_at(&h, 0)));
	history_clear(&h);
	CHECK_EQ_UINT(frame_live_count(), 0);
}

/* Past max_bytes the oldest go until the rest fits. */
static void
test_evicts_by_bytes(void)
{
	struct history h = { 0 };
	struct frame *probe = mk(0, 100);
	size_t cost = frame_cost(probe);

	frame_unref(probe);
	/* room for 3 frames and a bit, not 4 */
	add_range(&h, 1, 10, 100, 1000, 3 * cost + cost / 2);
	check_span(&h, 8, 10);
	CHECK_EQ_UINT(h.bytes, 3 * cost);
	CHECK(h.bytes <= 3 * cost + cost / 2);
	CHECK_EQ_UINT(frame_live_count(), 3);

	/* one big frame pushes out as many small ones as it needs */
	add_range(&h, 11, 11, 250, 1000, 3 * cost + cost / 2);
	CHECK_EQ_UINT(history_first_seq(&h), 10);
	CHECK_EQ_UINT(h.count, 2);
	CHECK(h.bytes <= 3 * cost + cost / 2);
	history_clear(&h);
	CHECK_EQ_UINT(frame_live_count(), 0);
}

/* A frame bigger than max_bytes alone is still kept (the newest always
 * is), and it goes as soon as the next one arrives. */
static void
test_oversized_newest_kept(void)
{
	struct history h = { 0 };

	add_range(&h, 1, 3, 10, 100, 200);
	add_range(&h, 4, 4, 5000, 100, 200);
	check_span(&h, 4, 4);
	add_range(&h, 5, 5, 10, 100, 200);
	check_span(&h, 5, 5);
	CHECK_EQ_UINT(frame_live_count(), 1);
	history_clear(&h);
}

/* size 0 keeps nothing, and drops what an earlier, larger size kept. */
static void
test_size_zero(void)
{
	struct history h = { 0 };

	add_range(&h, 1, 5, 10, 0, (size_t)1 << 30);
	CHECK_EQ_UINT(h.count, 0);
	CHECK_EQ_UINT(history_first_seq(&h), 0);
	CHECK_EQ_UINT(history_index_after(&h, 3), 0);
	CHECK_EQ_UINT(frame_live_count(), 0);

	add_range(&h, 6, 9, 10, 10, (size_t)1 << 30);
	check_span(&h, 6, 9);
	add_range(&h, 10, 10, 10, 0, (size_t)1 << 30);
	CHECK_EQ_UINT(h.count, 0);
	CHECK_EQ_UINT(h.bytes, 0);
	CHECK_EQ_UINT(frame_live_count(), 0);
	history_clear(&h);
}

/* A smaller bound on a later add (a reload) trims to it at once. */
static void
test_bound_shrinks(void)
{
	struct history h = { 0 };

	add_range(&h, 1, 50, 10, 50, (size_t)1 << 30);
	check_span(&h, 1, 50);
	add_range(&h, 51, 51, 10, 5, (size_t)1 << 30);
	check_span(&h, 47, 51);
	/* and grows back into a larger ring without losing order */
	add_range(&h, 52, 80, 10, 64, (size_t)1 << 30);
	check_span(&h, 47, 80);
	CHECK_EQ_UINT(frame_live_count(), 34);
	history_clear(&h);
	CHECK_EQ_UINT(frame_live_count(), 0);
}

/* index_after: since before the ring replays all, since inside starts just
 * after it, since at or past the newest replays nothing. */
static void
test_index_after_edges(void)
{
	struct history h = { 0 };

	add_range(&h, 1, 30, 10, 20, (size_t)1 << 30);	/* holds 11..30, wrapped */
	check_span(&h, 11, 30);
	CHECK_EQ_UINT(history_index_after(&h, 0), 0);
	CHECK_EQ_UINT(history_index_after(&h, 9), 0);
	CHECK_EQ_UINT(history_index_after(&h, 10), 0);	/* 11 is next: all */
	CHECK_EQ_UINT(history_index_after(&h, 11), 1);
	CHECK_EQ_UINT(history_at(&h, history_index_after(&h, 11))->seq, 12);
	CHECK_EQ_UINT(history_index_after(&h, 20), 10);
	CHECK_EQ_UINT(history_at(&h, history_index_after(&h, 20))->seq, 21);
	CHECK_EQ_UINT(history_index_after(&h, 29), 19);
	CHECK_EQ_UINT(history_at(&h, 19)->seq, 30);
	CHECK_EQ_UINT(history_index_after(&h, 30), 20);
	CHECK_EQ_UINT(history_index_after(&h, 31), 20);
	CHECK_EQ_UINT(history_index_after(&h, UINT64_MAX), 20);
	history_clear(&h);
}

/* The history holds its own references: the frames outlive the caller's
 * unref and are freed when evicted or cleared. */
static void
test_references(void)
{
	struct history h = { 0 };
	struct frame *a = mk(1, 10), *b = mk(2, 10);

	CHECK_EQ_INT(history_add(&h, a, 1, 1 << 20), 0);
	CHECK_EQ_UINT(a->refs, 2);
	CHECK_EQ_INT(history_add(&h, b, 1, 1 << 20), 0);
	CHECK_EQ_UINT(a->refs, 1);	/* evicted: back to the caller's one */
	CHECK_EQ_UINT(b->refs, 2);
	frame_unref(a);
	frame_unref(b);
	CHECK_EQ_UINT(frame_live_count(), 1);
	history_clear(&h);
	CHECK_EQ_UINT(frame_live_count(), 0);
}

CHECK_MAIN(CHECK_TEST(test_empty), CHECK_TEST(test_keeps_all_under_bound),
	   CHECK_TEST(test_evicts_by_count), CHECK_TEST(test_evicts_by_bytes),
	   CHECK_TEST(test_oversized_newest_kept), CHECK_TEST(test_size_zero),
	   CHECK_TEST(test_bound_shrinks), CHECK_TEST(test_index_after_edges),
	   CHECK_TEST(test_references))
