/* test_statring.c: samples are per-interval differences, oldest first,
 * bounded to five minutes; link changes alternate and end in the state now. */
#include <string.h>
#include "check.h"
#include "statring.h"

static struct statring ring;	/* ~12 KB: not on the stack */

static void
statring_first_tick_only_primes(void)
{
	struct statring_totals t = { .frames_in = 100, .frames_out = 400, .clients = 3, .up = 1 };

	memset(&ring, 0, sizeof(ring));
	statring_tick(&ring, 1000, &t, NULL);
	CHECK_EQ_UINT(statring_count(&ring), 0);
	CHECK(statring_sample_at(&ring, 0) == NULL);
	CHECK_EQ_UINT(statring_event_count(&ring), 0);
}

static void
statring_keeps_differences(void)
{
	struct statring_totals t = { .frames_in = 100, .frames_out = 400, .clients = 3, .up = 1 };
	const struct statring_sample *s;

	memset(&ring, 0, sizeof(ring));
	statring_tick(&ring, 1000, &t, NULL);
	t.frames_in = 150;
	t.frames_out = 550;
	t.slow_closed = 2;
	t.clients = 4;
	statring_tick(&ring, 2000, &t, NULL);
	t.frames_in = 151;
	statring_tick(&ring, 4500, &t, NULL);	/* a late tick: a longer interval */
	CHECK_EQ_UINT(statring_count(&ring), 2);
	s = statring_sample_at(&ring, 0);
	CHECK(s != NULL);
	CHECK_EQ_INT(s->t_ms, 2000);
	CHECK_EQ_UINT(s->span_ms, 1000);
	CHECK_EQ_UINT(s->frames_in, 50);
	CHECK_EQ_UINT(s->frames_out, 150);
	CHECK_EQ_UINT(s->slow_closed, 2);
	CHECK_EQ_UINT(s->clients, 4);
	CHECK_EQ_INT(s->up, 1);
	s = statring_sample_at(&ring, 1);
	CHECK_EQ_UINT(s->span_ms, 2500);
	CHECK_EQ_UINT(s->frames_in, 1);
	CHECK_EQ_UINT(s->frames_out, 0);
	CHECK_EQ_UINT(s->slow_closed, 0);
	CHECK(statring_sample_at(&ring, 2) == NULL);
}

static void
statring_counter_reset_is_zero(void)
{
	struct statring_totals t = { .frames_in = 1000 };

	memset(&ring, 0, sizeof(ring));
	statring_tick(&ring, 0, &t, NULL);	/* a clock that starts at 0 */
	t.frames_in = 10;
	statring_tick(&ring, 1000, &t, NULL);
	CHECK_EQ_UINT(statring_sample_at(&ring, 0)->frames_in, 0);
	t.frames_in = 25;
	statring_tick(&ring, 2000, &t, NULL);
	CHECK_EQ_UINT(statring_sample_at(&ring, 1)->frames_in, 15);
}

static void
statring_clock_backwards_adds_no_sample(void)
{
	struct statring_totals t = { .frames_in = 1 };

	memset(&ring, 0, sizeof(ring));
	statring_tick(&ring, 5000, &t, NULL);
	t.frames_in = 9;
	statring_tick(&ring, 5000, &t, NULL);
	statring_tick(&ring, 4000, &t, NULL);
	CHECK_EQ_UINT(statring_count(&ring), 0);
	t.frames_in = 12;
	statring_tick(&ring, 6000, &t, NULL);
	CHECK_EQ_UINT(statring_count(&ring), 1);
	CHECK_EQ_UINT(statring_sample_at(&ring, 0)->frames_in, 3);
}

static void
statring_wraps_oldest_first(void)
{
	struct statring_totals t = { 0 };

	memset(&ring, 0, sizeof(ring));
	statring_tick(&ring, 0, &t, NULL);
	for (int i = 1; i <= STATRING_SAMPLES + 37; i++) {
		t.frames_in += (uint64_t)i;
		statring_tick(&ring, (int64_t)i * 1000, &t, NULL);
	}
	CHECK_EQ_UINT(statring_count(&ring), STATRING_SAMPLES);
	for (size_t i = 0; i < STATRING_SAMPLES; i++) {
		const struct statring_sample *s = statring_sample_at(&ring, i);

		CHECK_EQ_INT(s->t_ms, (int64_t)(i + 38) * 1000);
		CHECK_EQ_UINT(s->frames_in, i + 38);
	}
}

static void
statring_link_events(void)
{
	struct statring_totals t = { .connects = 1, .up = 1 };
	const struct statring_event *e;

	memset(&ring, 0, sizeof(ring));
	statring_tick(&ring, 1000, &t, NULL);
	/* lost */
	t.disconnects = 1;
	t.up = 0;
	statring_tick(&ring, 2000, &t, "connection reset by UW");
	CHECK_EQ_UINT(statring_event_count(&ring), 1);
	e = statring_event_at(&ring, 0);
	CHECK_EQ_INT(e->up, 0);
	CHECK_EQ_INT(e->t_ms, 2000);
	CHECK_STR(e->reason, "connection reset by UW");
	/* back */
	t.connects = 2;
	t.up = 1;
	statring_tick(&ring, 3000, &t, "stale reason");
	e = statring_event_at(&ring, 1);
	CHECK_EQ_INT(e->up, 1);
	CHECK_STR(e->reason, "");
	/* lost and back within one second: down then up */
	t.connects = 3;
	t.disconnects = 2;
	statring_tick(&ring, 4000, &t, "ping timeout");
	CHECK_EQ_UINT(statring_event_count(&ring), 4);
	CHECK_EQ_INT(statring_event_at(&ring, 2)->up, 0);
	CHECK_STR(statring_event_at(&ring, 2)->reason, "ping timeout");
	CHECK_EQ_INT(statring_event_at(&ring, 3)->up, 1);
	CHECK(statring_event_at(&ring, 4) == NULL);
}

static void
statring_events_bounded_and_reason_truncated(void)
{
	struct statring_totals t = { .up = 0 };
	char longr[300];

	memset(longr, 'x', sizeof(longr) - 1);
	longr[sizeof(longr) - 1] = '\0';
	memset(&ring, 0, sizeof(ring));
	statring_tick(&ring, 0, &t, NULL);
	for (int i = 1; i <= 100; i++) {
		t.connects++;
		t.disconnects++;
		statring_tick(&ring, i * 1000, &t, longr);
	}
	CHECK_EQ_UINT(statring_event_count(&ring), STATRING_EVENTS);
	CHECK_EQ_INT(statring_event_at(&ring, STATRING_EVENTS - 1)->t_ms, 100000);
	CHECK_EQ_INT(statring_event_at(&ring, STATRING_EVENTS - 1)->up, 0);
	CHECK_EQ_INT(statring_event_at(&ring, STATRING_EVENTS - 2)->up, 1);
	CHECK_EQ_UINT(strlen(statring_event_at(&ring, STATRING_EVENTS - 1)->reason), 95);
	/* a burst beyond the ring in one tick keeps the newest, ending in the state now */
	t.connects += 1000;
	t.disconnects += 1000;
	statring_tick(&ring, 200000, &t, "flapping");
	CHECK_EQ_UINT(statring_event_count(&ring), STATRING_EVENTS);
	CHECK_EQ_INT(statring_event_at(&ring, STATRING_EVENTS - 1)->up, 0);
	CHECK_EQ_INT(statring_event_at(&ring, 0)->t_ms, 200000);
}

CHECK_MAIN(
	CHECK_TEST(statring_first_tick_only_primes),
	CHECK_TEST(statring_keeps_differences),
	CHECK_TEST(statring_counter_reset_is_zero),
	CHECK_TEST(statring_clock_backwards_adds_no_sample),
	CHECK_TEST(statring_wraps_oldest_first),
	CHECK_TEST(statring_link_events),
	CHECK_TEST(statring_events_bounded_and_reason_truncated))
