/* test_envelope.c: the browser envelope, built once, payload verbatim. */
#include <libwebsockets.h>
#include "chname.h"
#include "envelope.h"
#include "frame.h"
#include "json_scan.h"
#include <time.h>
#include "check.h"

_Static_assert(FRAME_PRE >= LWS_PRE, "FRAME_PRE must leave room for the lws header");

#define T_MS 1764081000123LL	/* 2025-11-25T14:30:00.123Z */
#define T_STR "2025-11-25T14:30:00.123Z"

static const char *
data_of(struct frame *f)
{
	return (const char *)frame_data(f);
}

static void
envelope_time_known_instant(void)
{
	char ts[25];

	envelope_time(T_MS, ts);
	CHECK_STR(ts, T_STR);
	CHECK_EQ_INT(strlen(ts), 24);
}

static void
envelope_time_epoch_and_boundaries(void)
{
	char ts[25];

	envelope_time(0, ts);
	CHECK_STR(ts, "1970-01-01T00:00:00.000Z");
	envelope_time(999, ts);
	CHECK_STR(ts, "1970-01-01T00:00:00.999Z");
	envelope_time(1000, ts);
	CHECK_STR(ts, "1970-01-01T00:00:01.000Z");
	envelope_time(951782400000LL, ts);	/* leap day 2000 */
	CHECK_STR(ts, "2000-02-29T00:00:00.000Z");
	envelope_time(1767225599999LL, ts);	/* last ms of 2025 */
	CHECK_STR(ts, "2025-12-31T23:59:59.999Z");
	envelope_time(253402300799999LL, ts);	/* last ms of year 9999 */
	CHECK_STR(ts, "9999-12-31T23:59:59.999Z");
}

/* The digit-by-digit formatter against gmtime_r + snprintf, over a spread
 * of instants from 1900 to 9999 (and the millisecond edges of each). */
static void
envelope_time_matches_gmtime(void)
{
	uint64_t x = 88172645463325252ULL;

	for (int i = 0; i < 200000; i++) {
		int64_t ms;
		time_t secs;
		struct tm tm;
		char got[25], want[80];

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ms = (int64_t)(x % 255611203200000ULL) - 2208988800000LL;	/* 1900 .. 9999 */
		if (i % 3 == 1)
			ms -= ms % 1000;
		else if (i % 3 == 2)
			ms += 999 - (ms % 1000 + 1000) % 1000;
		secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
		gmtime_r(&secs, &tm);
		snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 (int)((ms % 1000 + 1000) % 1000));
		envelope_time(ms, got);
		if (strcmp(got, want)) {
			printf("  ms %lld\n", (long long)ms);
			CHECK_STR(got, want);
			break;
		}
	}
}

static void
envelope_time_negative_ms(void)
{
	char ts[25];

	envelope_time(-1, ts);
	CHECK_STR(ts, "1969-12-31T23:59:59.999Z");
	envelope_time(-999, ts);
	CHECK_STR(ts, "1969-12-31T23:59:59.001Z");
	envelope_time(-1000, ts);
	CHECK_STR(ts, "1969-12-31T23:59:59.000Z");
	envelope_time(-1001, ts);
	CHECK_STR(ts, "1969-12-31T23:59:58.999Z");
	envelope_time(-86400000LL, ts);
	CHECK_STR(ts, "1969-12-31T00:00:00.000Z");
	envelope_time(-2208988800000LL, ts);	/* 1900-01-01 */
	CHECK_STR(ts, "1900-01-01T00:00:00.000Z");
}

static void
envelope_time_extreme_values_stay_in_24_chars(void)
{
	char ts[32];
	int64_t v[] = { INT64_MAX, INT64_MIN, INT64_MAX / 1000, 253402300800000LL };

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		memset(ts, 'X', sizeof(ts));
		envelope_time(v[i], ts);
		CHECK_EQ_INT(ts[24], '\0');
		CHECK_EQ_INT(ts[25], 'X');	/* nothing written past out[24] */
		CHECK_EQ_INT(strlen(ts), 24);
	}
}

static void
envelope_data_exact_bytes(void)
{
	uint64_t live = frame_live_count();
	const char *payload = "{\"close\":\"562.82\",\"time\":1726670327692}";
	const char *want = "{\"channel\":\"price:SPY\",\"seq\":42,\"epoch\":\"9f3c2a1b00ffee11\","
			   "\"timestamp\":\"" T_STR "\",\"data\":{\"close\":\"562.82\",\"time\":1726670327692}}";
	struct frame *f = envelope_data("price:SPY", 9, 42, "9f3c2a1b00ffee11", T_MS,
					payload, strlen(payload));

	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_MEM(data_of(f), f->len, want, strlen(want));
	CHECK_EQ_INT(data_of(f)[f->len], '\0');	/* NUL after, not counted */
	CHECK_EQ_UINT(f->seq, 42);
	CHECK_EQ_INT(f->refs, 1);
	CHECK(json_valid(data_of(f), f->len));
	CHECK_EQ_UINT(frame_live_count(), live + 1);
	frame_unref(f);
	CHECK_EQ_UINT(frame_live_count(), live);
}

static void
envelope_data_uses_channel_len(void)
{
	const char *payload = "{}";
	const char *want = "{\"channel\":\"news\",\"seq\":1,\"epoch\":\"e\",\"timestamp\":\"" T_STR
			   "\",\"data\":{}}";
	struct frame *f = envelope_data("news-and-more", 4, 1, "e", T_MS, payload, 2);

	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_MEM(data_of(f), f->len, want, strlen(want));
	frame_unref(f);
}

static void
envelope_data_payload_spliced_verbatim(void)
{
	/* whitespace, escapes, unicode: byte for byte, nothing re-encoded */
	const char *payload = "{ \"headline\" :\t\"caf\xc3\xa9 \\u00e9 \\\"q\\\" \xf0\x9f\x90\xb3 \\/\" ,\n"
			      "  \"tickers\" : [ ] , \"n\" : -1.50e-3 , \"z\":\"\\u0000\" }";
	size_t pl = strlen(payload);
	struct frame *f = envelope_data("news", 4, 7, "ep", T_MS, payload, pl);
	const char *d;
	const char *tail;

	CHECK(f != NULL);
	if (!f)
		return;
	d = data_of(f);
	tail = strstr(d, "\"data\":");
	CHECK(tail != NULL);
	if (tail) {
		tail += 7;
		CHECK_MEM(tail, pl, payload, pl);
		CHECK_EQ_INT((size_t)(tail - d) + pl + 1, f->len);
		CHECK_EQ_INT(tail[pl], '}');
	}
	CHECK(json_valid(d, f->len));
	frame_unref(f);
}

static void
envelope_data_payload_copied_by_length(void)
{
	/* the splice is a memcpy of payload_len bytes, not a string copy */
	const char payload[] = "\"a\0b\"";
	struct frame *f = envelope_data("news", 4, 1, "e", 0, payload, sizeof(payload) - 1);

	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_MEM(data_of(f) + f->len - 1 - (sizeof(payload) - 1), sizeof(payload) - 1,
		  payload, sizeof(payload) - 1);
	frame_unref(f);
}

static void
envelope_data_seq_extremes(void)
{
	struct frame *f = envelope_data("a", 1, 0, "e", 0, "1", 1);
	const char *want0 = "{\"channel\":\"a\",\"seq\":0,\"epoch\":\"e\","
			    "\"timestamp\":\"1970-01-01T00:00:00.000Z\",\"data\":1}";

	CHECK(f != NULL);
	if (f) {
		CHECK_MEM(data_of(f), f->len, want0, strlen(want0));
		frame_unref(f);
	}
	f = envelope_data("a", 1, UINT64_MAX, "e", 0, "1", 1);
	CHECK(f != NULL);
	if (f) {
		CHECK_CONTAINS(data_of(f), "\"seq\":18446744073709551615,");
		CHECK_EQ_UINT(f->seq, UINT64_MAX);
		CHECK(json_valid(data_of(f), f->len));
		frame_unref(f);
	}
}

static void
envelope_data_pre_1970_timestamp(void)
{
	struct frame *f = envelope_data("news", 4, 3, "e", -1, "{}", 2);

	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_CONTAINS(data_of(f), "\"timestamp\":\"1969-12-31T23:59:59.999Z\"");
	CHECK(json_valid(data_of(f), f->len));
	frame_unref(f);
}

static void
envelope_data_longest_channel(void)
{
	char ch[CHNAME_MAX + 1];
	struct frame *f;

	memset(ch, 'c', sizeof(ch));
	/* 64 chars with a 32-hex-char epoch and the largest seq still fit */
	f = envelope_data(ch, 64, UINT64_MAX, "0123456789abcdef0123456789abcdef", T_MS, "{}", 2);
	CHECK(f != NULL);
	if (f) {
		CHECK(json_valid(data_of(f), f->len));
		frame_unref(f);
	}
	/* longer than any valid name: refused, no frame */
	f = envelope_data(ch, 65, 1, "e", T_MS, "{}", 2);
	CHECK(f == NULL);
	frame_unref(f);
}

static void
envelope_headroom_present(void)
{
	struct frame *f = envelope_data("news", 4, 1, "e", T_MS, "{}", 2);

	CHECK(f != NULL);
	if (!f)
		return;
	CHECK(frame_data(f) == f->buf + FRAME_PRE);
	/* lws writes its header just before the data: the bytes must be ours
	 * (ASan flags this if the headroom was not allocated) */
	memset(frame_data(f) - LWS_PRE, 0xab, LWS_PRE);
	memset(f->buf, 0xcd, FRAME_PRE);
	CHECK_EQ_INT(data_of(f)[0], '{');
	CHECK_EQ_INT(f->len, strlen(data_of(f)));
	CHECK_EQ_UINT(frame_cost(f), sizeof(*f) + FRAME_PRE + f->len + 1);
	frame_unref(f);
}

static void
envelope_notice_shape(void)
{
	uint64_t live = frame_live_count();
	const char *want = "{\"channel\":\"$relay\",\"epoch\":\"ep1\",\"timestamp\":\"" T_STR
			   "\",\"data\":{\"event\":\"upstream_down\",\"reason\":\"x\"}}";
	struct frame *f = envelope_notice("ep1", T_MS, "{\"event\":\"upstream_down\",\"reason\":\"x\"}");

	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_MEM(data_of(f), f->len, want, strlen(want));
	CHECK_NOT_CONTAINS(data_of(f), "\"seq\"");
	CHECK_EQ_UINT(f->seq, 0);
	CHECK_EQ_INT(f->refs, 1);
	CHECK_EQ_INT(data_of(f)[f->len], '\0');
	CHECK(json_valid(data_of(f), f->len));
	CHECK(frame_data(f) == f->buf + FRAME_PRE);
	frame_unref(f);
	CHECK_EQ_UINT(frame_live_count(), live);
}

static void
envelope_notice_long_data(void)
{
	size_t n = 100000;
	char *data = malloc(n + 16);
	struct frame *f;

	/* {"s":"aaaa...."} */
	memcpy(data, "{\"s\":\"", 6);
	memset(data + 6, 'a', n);
	memcpy(data + 6 + n, "\"}", 3);
	f = envelope_notice("e", -1, data);
	CHECK(f != NULL);
	if (f) {
		CHECK(json_valid(data_of(f), f->len));
		CHECK_CONTAINS(data_of(f), "1969-12-31T23:59:59.999Z");
		frame_unref(f);
	}
	free(data);
}

static void
envelope_frames_refcounted(void)
{
	uint64_t live = frame_live_count(), bytes = frame_live_bytes();
	struct frame *f = envelope_data("news", 4, 1, "e", T_MS, "{}", 2);

	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_EQ_UINT(frame_live_bytes(), bytes + frame_cost(f));
	frame_ref(f);
	frame_ref(f);
	CHECK_EQ_INT(f->refs, 3);
	frame_unref(f);
	frame_unref(f);
	CHECK_EQ_UINT(frame_live_count(), live + 1);
	frame_unref(f);
	CHECK_EQ_UINT(frame_live_count(), live);
	CHECK_EQ_UINT(frame_live_bytes(), bytes);
	frame_unref(NULL);	/* accepted */
	CHECK_EQ_UINT(frame_live_count(), live);
}

/* last: every frame the tests made has been released */
static void
envelope_no_frame_left_alive(void)
{
	CHECK_EQ_UINT(frame_live_count(), 0);
	CHECK_EQ_UINT(frame_live_bytes(), 0);
}

CHECK_MAIN(
	CHECK_TEST(envelope_time_known_instant),
	CHECK_TEST(envelope_time_epoch_and_boundaries),
	CHECK_TEST(envelope_time_matches_gmtime),
	CHECK_TEST(envelope_time_negative_ms),
	CHECK_TEST(envelope_time_extreme_values_stay_in_24_chars),
	CHECK_TEST(envelope_data_exact_bytes),
	CHECK_TEST(envelope_data_uses_channel_len),
	CHECK_TEST(envelope_data_payload_spliced_verbatim),
	CHECK_TEST(envelope_data_payload_copied_by_length),
	CHECK_TEST(envelope_data_seq_extremes),
	CHECK_TEST(envelope_data_pre_1970_timestamp),
	CHECK_TEST(envelope_data_longest_channel),
	CHECK_TEST(envelope_headroom_present),
	CHECK_TEST(envelope_notice_shape),
	CHECK_TEST(envelope_notice_long_data),
	CHECK_TEST(envelope_frames_refcounted),
	CHECK_TEST(envelope_no_frame_left_alive))
