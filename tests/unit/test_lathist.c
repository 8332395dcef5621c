/* test_lathist.c: the latency histogram: each value lands in the first
 * bucket whose bound it does not exceed, bounds inclusive, +Inf last. */
#include <stdint.h>
#include "check.h"
#include "lathist.h"

static void
lathist_zero_goes_to_first_bucket(void)
{
	struct lathist h = { 0 };

	lathist_observe(&h, 0);
	CHECK_EQ_UINT(h.buckets[0], 1);
	CHECK_EQ_UINT(h.count, 1);
	CHECK_EQ_UINT(h.sum_us, 0);
}

static void
lathist_bounds_are_inclusive(void)
{
	struct lathist h = { 0 };

	for (int i = 0; i < LATHIST_BUCKETS - 1; i++) {
		lathist_observe(&h, lathist_bound_us(i));
		lathist_observe(&h, lathist_bound_us(i) + 1);
	}
	/* bound i lands in bucket i, bound i + 1 in the next one */
	CHECK_EQ_UINT(h.buckets[0], 1);
	for (int i = 1; i < LATHIST_BUCKETS; i++)
		CHECK_EQ_UINT(h.buckets[i], 2 - (i == LATHIST_BUCKETS - 1));
	CHECK_EQ_UINT(h.count, 2 * (LATHIST_BUCKETS - 1));
}

static void
lathist_huge_goes_to_inf(void)
{
	struct lathist h = { 0 };

	lathist_observe(&h, UINT64_MAX / 2);
	CHECK_EQ_UINT(h.buckets[LATHIST_BUCKETS - 1], 1);
	CHECK_EQ_UINT(lathist_bound_us(LATHIST_BUCKETS - 1), UINT64_MAX);
	CHECK_EQ_UINT(lathist_bound_us(-1), UINT64_MAX);
	CHECK_EQ_UINT(h.sum_us, UINT64_MAX / 2);
}

static void
lathist_bounds_increase(void)
{
	for (int i = 1; i < LATHIST_BUCKETS; i++)
		CHECK(lathist_bound_us(i) > lathist_bound_us(i - 1));
}

CHECK_MAIN(
	CHECK_TEST(lathist_zero_goes_to_first_bucket),
	CHECK_TEST(lathist_bounds_are_inclusive),
	CHECK_TEST(lathist_huge_goes_to_inf),
	CHECK_TEST(lathist_bounds_increase))
