/* test_evloop.c: the loop under the lws context keeps lws' timers, also
 * those scheduled outside lws' callbacks (evloop.h). Runs whichever
 * backend the build chose, on a context with no listener. */
#include <libwebsockets.h>
#include <string.h>
#include "check.h"
#include "evloop.h"

#define FAR_US (2 * LWS_US_PER_SEC)
#define NEAR_US (20 * LWS_US_PER_MS)
#define LATE_US (LWS_US_PER_SEC)	/* near is late if it fires this long after its time */

static struct {
	lws_sorted_usec_list_t first, far, near;
	lws_usec_t near_due;
	int first_fired, near_fired;
	lws_usec_t near_late;		/* how long after its time near fired */
} t;

static void
first_cb(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	t.first_fired = 1;
}

static void
far_cb(lws_sorted_usec_list_t *sul)
{
	(void)sul;
}

static void
near_cb(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	t.near_fired = 1;
	t.near_late = lws_now_usecs() - t.near_due;
}

/* Runs turns until *flag is set (a turn ends at a timer at the latest:
 * far is pending until near has fired). Returns the turns it took. */
static int
run_until(struct evloop *el, struct lws_context *ctx, const int *flag)
{
	int turns = 0;

	while (!*flag && turns < 1000) {
		if (evloop_run_once(el, ctx) < 0)
			break;
		turns++;
	}
	return turns;
}

/* A timer scheduled between turns, as the relay's write batch does (a
 * close's drain timeout), earlier than the one the loop has armed: it must
 * fire at its own time, not when the armed one does. With lws 4.1.6's
 * libuv plugin it waited for the armed timer unless the loop is told.
 * (lws' poll loop services timers before it waits, so there a turn returns
 * after waiting for far: near is then scheduled after far's time, and
 * must still fire promptly.) */
static void
test_timer_scheduled_between_turns(void)
{
	struct lws_context_creation_info info;
	struct lws_context *ctx;
	struct evloop el;

	memset(&t, 0, sizeof(t));
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	lws_set_log_level(LLL_ERR, NULL);
	CHECK(evloop_init(&el, &info) == 0);
	ctx = lws_create_context(&info);
	CHECK(ctx != NULL);
	if (!ctx) {
		printf("  lws could not make the %s loop's context (plugin: %s)\n", evloop_name(),
		       evloop_plugin() ? evloop_plugin() : "none");
		evloop_destroy(&el, NULL);
		return;
	}
	lws_sul_schedule(ctx, 0, &t.first, first_cb, 10 * LWS_US_PER_MS);
	lws_sul_schedule(ctx, 0, &t.far, far_cb, FAR_US);
	run_until(&el, ctx, &t.first_fired);
	CHECK(t.first_fired);
	/* with uv the loop's timer is now armed for far; near is due long
	 * before it */
	lws_sul_schedule(ctx, 0, &t.near, near_cb, NEAR_US);
	t.near_due = lws_now_usecs() + NEAR_US;
	evloop_timers_changed(&el, ctx);
	run_until(&el, ctx, &t.near_fired);
	CHECK(t.near_fired);
	if (t.near_late >= LATE_US)
		printf("  near fired %lld ms late\n", (long long)(t.near_late / 1000));
	CHECK(t.near_late < LATE_US);
	lws_sul_cancel(&t.far);
	evloop_destroy(&el, ctx);
}

CHECK_MAIN(CHECK_TEST(test_timer_scheduled_between_turns))
