/* evloop.h: the event loop under the lws context.
 *
 * lws 4.1.6's default loop calls poll() over every descriptor on each
 * turn, so a turn costs O(connections) however few of them are ready.
 * With an event-lib plugin (Debian's libwebsockets-evlib-ev / -evlib-uv)
 * lws registers each descriptor with libev or libuv instead, which wait
 * with epoll: a turn costs O(ready descriptors). The relay creates the
 * loop itself ("foreign loop") and runs it one turn at a time, so each
 * turn stays one write batch (relay_run). Which backend is compiled in is
 * the build option UWRELAY_EVENT_LOOP (poll, uv or ev).
 *
 * poll is the default. Measured (docs/BENCHMARKS.md, "Reconnect storms and
 * the event loop"), the epoll backends did not set up or fan out faster:
 * what made a storm O(n^2) was lws' sorted timeout list and its per-close
 * scan of the descriptor table, not poll(). And both plugins misplace
 * timers in lws 4.1.6: the ev plugin calls ev_timer_set() on an active
 * timer (an earlier lws_sul is then ignored until the armed one fires),
 * and neither re-arms its timer for an lws_sul scheduled outside an lws
 * callback (relay_run's write batch), so such a timer waits for the next
 * I/O (test_reload fails with uv: a drain timeout never fires). */
#ifndef UWRELAY_EVLOOP_H
#define UWRELAY_EVLOOP_H

#include <libwebsockets.h>

struct evloop {
	void *loop;		/* ev_loop / uv_loop_t; NULL for lws' poll loop */
	void *foreign[1];	/* what info->foreign_loops points at */
};

/* The backend's name ("ev", "uv" or "poll"), for logs and status. */
const char *evloop_name(void);
/* Creates the loop and points info at it (options, foreign_loops); call
 * before lws_create_context. Returns 0, or -1 if the loop cannot be made. */
int evloop_init(struct evloop *el, struct lws_context_creation_info *info);
/* Runs one turn: waits for at least one event (or the next timer) and
 * dispatches what is ready. Returns <0 once lws wants the loop to end. */
int evloop_run_once(struct evloop *el, struct lws_context *ctx);
/* Destroys the context on its loop, then the loop. ctx may be NULL. */
void evloop_destroy(struct evloop *el, struct lws_context *ctx);

#endif
