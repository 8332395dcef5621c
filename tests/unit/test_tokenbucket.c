/* test_tokenbucket.c: refill at rate per second up to burst, time as an
 * argument, with zero, huge and backwards times. */
#include <stdint.h>
#include "check.h"
#include "tokenbucket.h"

/* Takes until the bucket says no; returns how many were taken. */
static unsigned
drain(struct tokenbucket *tb, double rate, double burst, uint64_t now)
{
	unsigned n = 0;

	while (tokenbucket_take(tb, rate, burst, now) && n < 1000000)
		n++;
	return n;
}

static void
tokenbucket_zeroed_is_full(void)
{
	struct tokenbucket tb = { 0 };

	CHECK_EQ_DBL(tokenbucket_peek(&tb, 5, 30, 12345), 30);
	CHECK_EQ_UINT(tokenbucket_wait_ms(&tb, 5, 30, 12345), 0);
	CHECK_EQ_UINT(drain(&tb, 5, 30, 12345), 30);
	CHECK_EQ_DBL(tokenbucket_peek(&tb, 5, 30, 12345), 0);
}

static void
tokenbucket_time_zero(void)
{
	struct tokenbucket tb = { 0 };

	/* a clock that starts at 0 is not "never used" */
	CHECK_EQ_UINT(drain(&tb, 2, 3, 0), 3);
	CHECK(!tokenbucket_take(&tb, 2, 3, 0));
	CHECK_EQ_UINT(tokenbucket_wait_ms(&tb, 2, 3, 0), 500);
	CHECK(!tokenbucket_take(&tb, 2, 3, 499));
	CHECK(tokenbucket_take(&tb, 2, 3, 500));
	CHECK(!tokenbucket_take(&tb, 2, 3, 500));
}

static void
tokenbucket_refills_at_rate(void)
{
	struct tokenbucket tb = { 0 };

	CHECK_EQ_UINT(drain(&tb, 5, 30, 1000), 30);
	/* 5 per second: one every 200 ms */
	CHECK_EQ_UINT(tokenbucket_wait_ms(&tb, 5, 30, 1000), 200);
	CHECK_EQ_UINT(tokenbucket_wait_ms(&tb, 5, 30, 1150), 50);
	CHECK_EQ_UINT(drain(&tb, 5, 30, 2000), 5);
	CHECK_EQ_UINT(drain(&tb, 5, 30, 2100), 0);
	CHECK_EQ_UINT(drain(&tb, 5, 30, 2200), 1);
	/* a fraction saved up is not lost between calls */
	CHECK_EQ_UINT(drain(&tb, 5, 30, 2300), 0);
	CHECK_EQ_UINT(drain(&tb, 5, 30, 2400), 1);
}

static void
tokenbucket_fractional_rate(void)
{
	struct tokenbucket tb = { 0 };

	CHECK_EQ_UINT(drain(&tb, 0.1, 1, 0), 1);
	CHECK_EQ_UINT(tokenbucket_wait_ms(&tb, 0.1, 1, 0), 10000);
	CHECK(!tokenbucket_take(&tb, 0.1, 1, 9999));
	CHECK(tokenbucket_take(&tb, 0.1, 1, 10000));
}

static void
tokenbucket_wait_then_take_always_succeeds(void)
{
	/* rates whose period is not a whole number of ms */
	const double rates[] = { 3, 7, 0.3, 33.3, 1000, 999.9 };

	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		struct tokenbucket tb = { 0 };
		uint64_t now = 77;

		drain(&tb, rates[i], 2, now);
		for (int k = 0; k < 200; k++) {
			uint64_t w = tokenbucket_wait_ms(&tb, rates[i], 2, now);

			CHECK(w > 0);
			/* not sooner than said (by more than the 1 ms rounding) */
			CHECK(tokenbucket_peek(&tb, rates[i], 2, now + w - 1) < 1 || rates[i] >= 1000);
			now += w;
			CHECK(tokenbucket_take(&tb, rates[i], 2, now));
		}
	}
}

static void
tokenbucket_capped_at_burst(void)
{
	struct tokenbucket tb = { 0 };

	CHECK_EQ_UINT(drain(&tb, 10, 4, 0), 4);
	CHECK_EQ_DBL(tokenbucket_peek(&tb, 10, 4, 60000), 4);
	CHECK_EQ_UINT(drain(&tb, 10, 4, 60000), 4);
}

static void
tokenbucket_huge_time(void)
{
	struct tokenbucket tb = { 0 };

	CHECK_EQ_UINT(drain(&tb, 100000, 50, 1), 50);
	/* 2^64-1 ms later: capped at burst, no overflow, no infinity */
	CHECK_EQ_DBL(tokenbucket_peek(&tb, 100000, 50, UINT64_MAX), 50);
	CHECK_EQ_UINT(drain(&tb, 100000, 50, UINT64_MAX), 50);
	CHECK(!tokenbucket_take(&tb, 100000, 50, UINT64_MAX));
	/* one token is due in 1/100000 s: rounded up to 1 ms */
	CHECK_EQ_UINT(tokenbucket_wait_ms(&tb, 100000, 50, UINT64_MAX), 1);
}

static void
tokenbucket_backwards_time_refills_nothing(void)
{
	struct tokenbucket tb = { 0 };

	CHECK_EQ_UINT(drain(&tb, 1, 2, 10000), 2);
	/* the clock goes back 5 s: nothing refilled ... */
	CHECK_EQ_DBL(tokenbucket_peek(&tb, 1, 2, 5000), 0);
	CHECK(!tokenbucket_take(&tb, 1, 2, 5000));
	/* ... the token is due 1 s after the bucket's clock, not the caller's */
	CHECK_EQ_UINT(tokenbucket_wait_ms(&tb, 1, 2, 5000), 6000);
	/* and going forward again does not count the same seconds twice */
	CHECK(!tokenbucket_take(&tb, 1, 2, 10999));
	CHECK(tokenbucket_take(&tb, 1, 2, 11000));
	CHECK(!tokenbucket_take(&tb, 1, 2, 11000));
}

static void
tokenbucket_new_burst_applies(void)
{
	struct tokenbucket tb = { 0 };

	CHECK(tokenbucket_take(&tb, 1, 30, 0));
	/* a reload lowers the burst: what was saved up is capped */
	CHECK_EQ_DBL(tokenbucket_peek(&tb, 1, 5, 0), 5);
	CHECK_EQ_UINT(drain(&tb, 1, 5, 0), 5);
	/* a higher rate applies to the next refill */
	CHECK_EQ_UINT(tokenbucket_wait_ms(&tb, 10, 5, 0), 100);
}

static void
tokenbucket_zero_rate_never_refills(void)
{
	struct tokenbucket tb = { 0 };

	CHECK_EQ_UINT(drain(&tb, 0, 2, 0), 2);
	CHECK_EQ_UINT(tokenbucket_wait_ms(&tb, 0, 2, 1000000), UINT64_MAX);
	CHECK(!tokenbucket_take(&tb, 0, 2, UINT64_MAX));
}

static void
tokenbucket_burst_below_one_gives_nothing(void)
{
	struct tokenbucket tb = { 0 };

	CHECK(!tokenbucket_take(&tb, 5, 0.5, 0));
	CHECK_EQ_UINT(tokenbucket_wait_ms(&tb, 5, 0.5, 100000), UINT64_MAX);
}

CHECK_MAIN(
	CHECK_TEST(tokenbucket_zeroed_is_full),
	CHECK_TEST(tokenbucket_time_zero),
	CHECK_TEST(tokenbucket_refills_at_rate),
	CHECK_TEST(tokenbucket_fractional_rate),
	CHECK_TEST(tokenbucket_wait_then_take_always_succeeds),
	CHECK_TEST(tokenbucket_capped_at_burst),
	CHECK_TEST(tokenbucket_huge_time),
	CHECK_TEST(tokenbucket_backwards_time_refills_nothing),
	CHECK_TEST(tokenbucket_new_burst_applies),
	CHECK_TEST(tokenbucket_zero_rate_never_refills),
	CHECK_TEST(tokenbucket_burst_below_one_gives_nothing))
