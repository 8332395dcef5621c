/* evloop.h: the event loop under the lws context.
 *
 * lws 4.1.6's own loop calls poll() over every descriptor on each turn, so
 * a turn costs O(connections) however few of them are ready. With an
 * event-lib plugin (Debian's libwebsockets-evlib-uv / -evlib-ev) lws
 * registers each descriptor with libuv or libev instead, which wait with
 * epoll: a turn costs O(ready descriptors). The relay creates the loop
 * itself ("foreign loop") and runs it one turn at a time, so each turn stays
 * one write batch (relay_run). The build option UWRELAY_EVENT_LOOP picks
 * the backend: uv (the default), poll or ev.
 *
 * Two faults of lws 4.1.6's plugins, and what the relay does about them:
 * - Both re-arm their timer only from their own callbacks, after I/O: an
 *   lws_sul scheduled elsewhere (in the write batch after a turn, where a
 *   close frame starts a drain timeout) would wait for the next I/O. With
 *   uv, evloop_timers_changed() restarts lws' idle handle, whose callback
 *   re-arms the timer at the start of the next turn.
 * - The ev plugin calls ev_timer_set() on its active timer, which libev
 *   ignores: an lws_sul due earlier than the armed one waits for it. Nothing
 *   outside lws can mend that, so ev is kept only to measure against.
 * And one difference of epoll: a connection reset reports only the error,
 * not the readable bytes before it; upconn.c reads those itself. */
#ifndef UWRELAY_EVLOOP_H
#define UWRELAY_EVLOOP_H

#include <libwebsockets.h>

struct evloop {
	void *loop;		/* ev_loop / uv_loop_t; NULL for lws' poll loop */
	void *foreign[1];	/* what info->foreign_loops points at */
	struct lws_context *ctx;	/* while destroying: NULL once lws freed it */
	void *lws_idle;		/* uv: lws' idle handle, found on first use */
	int no_idle;		/* uv: not found; wake lws through its pipe */
};

/* The backend's name ("ev", "uv" or "poll"), for logs and status. */
const char *evloop_name(void);
/* The Debian package of the lws plugin the backend needs at run time, or
 * NULL (poll is built into lws). */
const char *evloop_plugin(void);
/* Creates the loop and points info at it (options, foreign_loops); call
 * before lws_create_context. Returns 0, or -1 if the loop cannot be made. */
int evloop_init(struct evloop *el, struct lws_context_creation_info *info);
/* Runs one turn: waits for at least one event (or the next timer) and
 * dispatches what is ready. Returns <0 once lws wants the loop to end. */
int evloop_run_once(struct evloop *el, struct lws_context *ctx);
/* Call after work done outside lws' callbacks that may have scheduled an
 * lws timer (lws_sul_schedule, lws_set_timeout): makes sure the loop's
 * timer is re-armed for it. Cheap: no system call with uv; nothing with
 * poll. */
void evloop_timers_changed(struct evloop *el, struct lws_context *ctx);
/* Destroys the context on its loop, then the loop. ctx may be NULL. */
void evloop_destroy(struct evloop *el, struct lws_context *ctx);

#endif
