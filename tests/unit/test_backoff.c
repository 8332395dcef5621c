/* test_backoff.c: reconnect delay = min(initial*2^(n-1), max) * (1 + j*(2r-1)). */
#include <limits.h>
#include <math.h>
#include "backoff.h"
#include "check.h"

/* r just below 1, the largest value a caller's [0, 1) generator returns */
#define R_MAX_BELOW_1 nextafter(1.0, 0.0)

static void
backoff_attempt_zero_and_one_give_initial(void)
{
	struct backoff_cfg c = { 5, 60, 0 };

	CHECK_EQ_UINT(backoff_delay_ms(&c, 0, 0.5), 5000);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 1, 0.5), 5000);
}

static void
backoff_doubles_each_attempt(void)
{
	struct backoff_cfg c = { 1, 1000, 0 };

	CHECK_EQ_UINT(backoff_delay_ms(&c, 1, 0), 1000);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 2, 0), 2000);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 3, 0), 4000);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 4, 0), 8000);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 10, 0), 512000);
}

static void
backoff_fractional_initial(void)
{
	struct backoff_cfg c = { 0.25, 60, 0 };

	CHECK_EQ_UINT(backoff_delay_ms(&c, 1, 0), 250);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 2, 0), 500);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 3, 0), 1000);
}

static void
backoff_is_capped_at_max(void)
{
	struct backoff_cfg c = { 5, 60, 0 };

	CHECK_EQ_UINT(backoff_delay_ms(&c, 4, 0), 40000);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 5, 0), 60000);	/* 80 s capped */
	CHECK_EQ_UINT(backoff_delay_ms(&c, 6, 0), 60000);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 61, 0), 60000);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 62, 0), 60000);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 63, 0), 60000);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 64, 0), 60000);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 1000, 0), 60000);
}

static void
backoff_initial_above_max_gives_max(void)
{
	struct backoff_cfg c = { 10, 3, 0 };

	CHECK_EQ_UINT(backoff_delay_ms(&c, 1, 0), 3000);
}

static void
backoff_huge_attempt_is_capped(void)
{
	struct backoff_cfg c = { 5, 60, 0 };
	struct backoff_cfg j = { 5, 60, 0.5 };

	CHECK_EQ_UINT(backoff_delay_ms(&c, UINT_MAX, 0), 60000);
	CHECK_EQ_UINT(backoff_delay_ms(&c, UINT_MAX - 1, 0.7), 60000);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 1u << 31, 0), 60000);
	CHECK_EQ_UINT(backoff_delay_ms(&j, UINT_MAX, 0), 30000);
	CHECK_EQ_UINT(backoff_delay_ms(&j, UINT_MAX, 0.5), 60000);
}

static void
backoff_huge_values_do_not_overflow(void)
{
	/* a cap of a day at the top of the allowed range */
	struct backoff_cfg day = { 86400, 86400, 0 };
	/* no real cap: the result saturates instead of wrapping */
	struct backoff_cfg big = { 1e300, 1e308, 0 };

	CHECK_EQ_UINT(backoff_delay_ms(&day, UINT_MAX, 0), 86400000u);
	CHECK_EQ_UINT(backoff_delay_ms(&big, UINT_MAX, 0), UINT64_MAX);
	CHECK_EQ_UINT(backoff_delay_ms(&big, 1, 0), UINT64_MAX);
}

static void
backoff_is_monotonic_in_attempt(void)
{
	struct backoff_cfg c = { 0.5, 120, 0.2 };
	uint64_t prev = 0;

	for (unsigned a = 1; a < 300; a++) {
		uint64_t d = backoff_delay_ms(&c, a, 0.3);

		CHECK(d >= prev);
		CHECK(d <= 144000);	/* max * (1 + j) */
		prev = d;
	}
}

static void
backoff_jitter_lower_bound_at_r_zero(void)
{
	struct backoff_cfg c = { 1, 60, 0.1 };
	struct backoff_cfg c2 = { 10, 60, 0.25 };

	CHECK_EQ_UINT(backoff_delay_ms(&c, 1, 0), 900);		/* initial * (1 - j) */
	CHECK_EQ_UINT(backoff_delay_ms(&c2, 1, 0), 7500);
	CHECK_EQ_UINT(backoff_delay_ms(&c2, 3, 0), 30000);	/* 40 s * 0.75 */
	CHECK_EQ_UINT(backoff_delay_ms(&c2, 9, 0), 45000);	/* 60 s cap * 0.75 */
}

static void
backoff_jitter_upper_bound_just_under_one(void)
{
	struct backoff_cfg c = { 1, 60, 0.1 };
	struct backoff_cfg c2 = { 10, 60, 0.25 };
	uint64_t d;

	/* r -> 1 gives just under initial * (1 + j); rounded to ms that is
	 * initial*(1+j) at most, and never above */
	d = backoff_delay_ms(&c, 1, R_MAX_BELOW_1);
	CHECK(d <= 1100);
	CHECK(d >= 1099);
	d = backoff_delay_ms(&c2, 1, R_MAX_BELOW_1);
	CHECK(d <= 12500);
	CHECK(d >= 12499);
	d = backoff_delay_ms(&c2, 9, R_MAX_BELOW_1);	/* capped, then spread */
	CHECK(d <= 75000);
	CHECK(d >= 74999);
}

static void
backoff_jitter_midpoint_is_exact(void)
{
	struct backoff_cfg c = { 2, 60, 0.3 };

	CHECK_EQ_UINT(backoff_delay_ms(&c, 1, 0.5), 2000);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 2, 0.5), 4000);
}

static void
backoff_jitter_stays_in_bounds_for_all_r(void)
{
	struct backoff_cfg c = { 3, 60, 0.2 };

	for (int i = 0; i < 1000; i++) {
		double r = i / 1000.0;
		uint64_t d = backoff_delay_ms(&c, 2, r);

		CHECK(d >= 4800 && d <= 7200);
	}
}

static void
backoff_r_out_of_range_is_clamped(void)
{
	struct backoff_cfg c = { 1, 60, 0.1 };
	uint64_t d;

	/* r = 1 (outside [0,1)) is treated as just under 1 */
	d = backoff_delay_ms(&c, 1, 1.0);
	CHECK(d <= 1100 && d >= 1099);
	d = backoff_delay_ms(&c, 1, 7.0);
	CHECK(d <= 1100 && d >= 1099);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 1, -3.0), 900);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 1, NAN), 900);
}

static void
backoff_jitter_zero_ignores_r(void)
{
	struct backoff_cfg c = { 5, 60, 0 };

	CHECK_EQ_UINT(backoff_delay_ms(&c, 2, 0), 10000);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 2, 0.5), 10000);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 2, R_MAX_BELOW_1), 10000);
}

static void
backoff_nan_jitter_is_zero(void)
{
	struct backoff_cfg c = { 5, 60, NAN };

	CHECK_EQ_UINT(backoff_delay_ms(&c, 1, 0), 5000);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 1, R_MAX_BELOW_1), 5000);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 3, 0.9), 20000);
}

static void
backoff_negative_jitter_is_zero(void)
{
	struct backoff_cfg c = { 5, 60, -0.5 };

	CHECK_EQ_UINT(backoff_delay_ms(&c, 1, 0), 5000);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 1, 0.9), 5000);
}

static void
backoff_jitter_above_one_is_one(void)
{
	struct backoff_cfg c = { 5, 60, 3.0 };
	uint64_t d;

	CHECK_EQ_UINT(backoff_delay_ms(&c, 1, 0), 0);		/* 5 * (1 - 1) */
	CHECK_EQ_UINT(backoff_delay_ms(&c, 1, 0.5), 5000);
	d = backoff_delay_ms(&c, 1, R_MAX_BELOW_1);
	CHECK(d <= 10000 && d >= 9999);
}

static void
backoff_initial_zero_is_zero(void)
{
	struct backoff_cfg c = { 0, 60, 0.1 };

	CHECK_EQ_UINT(backoff_delay_ms(&c, 0, 0.5), 0);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 1, 0.9), 0);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 40, 0.9), 0);
	CHECK_EQ_UINT(backoff_delay_ms(&c, 63, 0.9), 0);
	CHECK_EQ_UINT(backoff_delay_ms(&c, UINT_MAX, 0.9), 0);
}

static void
backoff_negative_initial_is_never_negative(void)
{
	struct backoff_cfg c = { -5, 60, 0.1 };

	CHECK_EQ_UINT(backoff_delay_ms(&c, 1, 0.5), 0);
	CHECK_EQ_UINT(backoff_delay_ms(&c, UINT_MAX, 0.5), 0);
}

static void
backoff_max_zero_is_zero(void)
{
	struct backoff_cfg c = { 5, 0, 0.1 };

	CHECK_EQ_UINT(backoff_delay_ms(&c, 1, 0.9), 0);
	CHECK_EQ_UINT(backoff_delay_ms(&c, UINT_MAX, 0.9), 0);
}

CHECK_MAIN(
	CHECK_TEST(backoff_attempt_zero_and_one_give_initial),
	CHECK_TEST(backoff_doubles_each_attempt),
	CHECK_TEST(backoff_fractional_initial),
	CHECK_TEST(backoff_is_capped_at_max),
	CHECK_TEST(backoff_initial_above_max_gives_max),
	CHECK_TEST(backoff_huge_attempt_is_capped),
	CHECK_TEST(backoff_huge_values_do_not_overflow),
	CHECK_TEST(backoff_is_monotonic_in_attempt),
	CHECK_TEST(backoff_jitter_lower_bound_at_r_zero),
	CHECK_TEST(backoff_jitter_upper_bound_just_under_one),
	CHECK_TEST(backoff_jitter_midpoint_is_exact),
	CHECK_TEST(backoff_jitter_stays_in_bounds_for_all_r),
	CHECK_TEST(backoff_r_out_of_range_is_clamped),
	CHECK_TEST(backoff_jitter_zero_ignores_r),
	CHECK_TEST(backoff_nan_jitter_is_zero),
	CHECK_TEST(backoff_negative_jitter_is_zero),
	CHECK_TEST(backoff_jitter_above_one_is_one),
	CHECK_TEST(backoff_initial_zero_is_zero),
	CHECK_TEST(backoff_negative_initial_is_never_negative),
	CHECK_TEST(backoff_max_zero_is_zero))
