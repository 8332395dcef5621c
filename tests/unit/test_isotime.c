/* test_isotime.c: the ISO 8601 times the history API and --replay take,
 * checked against envelope_time (the stream's own timestamps) both ways. */
#include <stdint.h>
#include "check.h"
#include "envelope.h"
#include "isotime.h"

static int64_t
ms(const char *s)
{
	int64_t v = -12345;

	CHECK_EQ_INT(isotime_parse(s, &v), 0);
	return v;
}

static void
test_forms(void)
{
	CHECK_EQ_INT(ms("1970-01-01T00:00:00Z"), 0);
	CHECK_EQ_INT(ms("1970-01-01"), 0);
	CHECK_EQ_INT(ms("2026-12-03T09:16:40Z"), 1796289400000LL);
	CHECK_EQ_INT(ms("2026-12-03T09:16:40.123Z"), 1796289400123LL);
	CHECK_EQ_INT(ms("2026-12-03T09:16:40.1239Z"), 1796289400123LL);	/* cut, not rounded */
	CHECK_EQ_INT(ms("2026-12-03T09:16:40.5"), 1796289400500LL);		/* no zone: UTC */
	CHECK_EQ_INT(ms("2026-12-03 09:16"), 1796289360000LL);
	CHECK_EQ_INT(ms("2026-12-03T10:16:40+01:00"), 1796289400000LL);
	CHECK_EQ_INT(ms("2026-12-03T04:16:40-0500"), 1796289400000LL);
	CHECK_EQ_INT(ms("2024-02-29T00:00:00Z"), 1709164800000LL);		/* leap day */
	CHECK_EQ_INT(ms("2000-02-29"), 951782400000LL);
}

static void
test_round_trip_with_envelope_time(void)
{
	static const int64_t t[] = { 0, 1, 999, 86399999, 951782400000LL, 1796289400123LL,
				     4102444799999LL };
	char out[25];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		envelope_time(t[i], out);
		CHECK_EQ_INT(ms(out), t[i]);
	}
}

static void
test_rejected(void)
{
	static const char *const bad[] = {
		"", "yesterday", "2026", "2026-12", "2026-13-01", "2026-00-10", "2026-02-30",
		"2023-02-29", "1969-12-31T23:59:59Z", "2026-12-03T24:00", "2026-12-03T09:60",
		"2026-12-03T09:16:40.", "2026-12-03T09:16:40Zjunk", "2026-12-03T09", "2026-12-03T9:16",
		"2026-12-03T09:16+25:00", "2026-12-03X09:16", " 2026-12-03", "+2026-12-03",
	};
	int64_t v = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ_INT(isotime_parse(bad[i], &v), -1);
		CHECK_EQ_INT(v, 42);	/* untouched on error */
	}
	CHECK_EQ_INT(isotime_parse(NULL, &v), -1);
}

CHECK_MAIN(CHECK_TEST(test_forms), CHECK_TEST(test_round_trip_with_envelope_time),
	   CHECK_TEST(test_rejected))
