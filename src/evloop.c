/* evloop.c: the event loop under the lws context (see evloop.h). */
#include "evloop.h"

/* the backend, and the Debian package of the lws plugin it needs */
#if defined(UWRELAY_LOOP_EV)
#include <ev.h>
#define LOOP_NAME "ev"
#define LOOP_PLUGIN "libwebsockets-evlib-ev"
#elif defined(UWRELAY_LOOP_UV)
#include <uv.h>
#include <stdlib.h>
#define LOOP_NAME "uv"
#define LOOP_PLUGIN "libwebsockets-evlib-uv"
#else
#define LOOP_NAME "poll"
#define LOOP_PLUGIN NULL
#endif

const char *
evloop_name(void)
{
	return LOOP_NAME;
}

const char *
evloop_plugin(void)
{
	return LOOP_PLUGIN;
}

int
evloop_init(struct evloop *el, struct lws_context_creation_info *info)
{
	el->loop = NULL;
	el->lws_idle = NULL;
	el->no_idle = 0;
#if defined(UWRELAY_LOOP_EV)
	/* epoll by name: libev's automatic choice may settle for poll() */
	el->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
	if (!el->loop)
		return -1;
	info->options |= LWS_SERVER_OPTION_LIBEV;
#elif defined(UWRELAY_LOOP_UV)
	el->loop = malloc(sizeof(uv_loop_t));
	if (!el->loop || uv_loop_init(el->loop)) {
		free(el->loop);
		el->loop = NULL;
		return -1;
	}
	info->options |= LWS_SERVER_OPTION_LIBUV;
#endif
	if (el->loop) {
		/* lws installs no signal watchers on a foreign loop: ours
		 * stay on the signalfd (relay.c) */
		el->foreign[0] = el->loop;
		info->foreign_loops = el->foreign;
		/* lws clears this when it has freed the context (evloop_destroy) */
		info->pcontext = &el->ctx;
	}
	return 0;
}

#if defined(UWRELAY_LOOP_UV)
struct idle_search {
	uv_idle_t *idle;
	int n;
};

static void
find_idle(uv_handle_t *h, void *arg)
{
	struct idle_search *is = arg;

	if (h->type == UV_IDLE) {
		is->idle = (uv_idle_t *)h;
		is->n++;
	}
}
#endif

void
evloop_timers_changed(struct evloop *el, struct lws_context *ctx)
{
#if defined(UWRELAY_LOOP_UV)
	if (!el->lws_idle && !el->no_idle) {
		struct idle_search is = { NULL, 0 };

		/* the relay makes no idle handle of its own: lws' is the one */
		uv_walk(el->loop, find_idle, &is);
		if (is.n == 1 && is.idle->idle_cb)
			el->lws_idle = is.idle;
		else
			el->no_idle = 1;
	}
	if (el->lws_idle) {
		uv_idle_t *idle = el->lws_idle;

		uv_idle_start(idle, idle->idle_cb);
	} else
		lws_cancel_service(ctx);	/* a wake-up through lws' pipe */
#else
	/* poll: lws_service() looks at its timers on every turn; ev: the
	 * plugin's timer cannot be moved earlier at all (evloop.h) */
	(void)el;
	(void)ctx;
#endif
}

int
evloop_run_once(struct evloop *el, struct lws_context *ctx)
{
#if defined(UWRELAY_LOOP_EV)
	(void)ctx;
	ev_run(el->loop, EVRUN_ONCE);
	return 0;
#elif defined(UWRELAY_LOOP_UV)
	(void)ctx;
	uv_run(el->loop, UV_RUN_ONCE);
	return 0;
#else
	(void)el;
	return lws_service(ctx, 0);
#endif
}

void
evloop_destroy(struct evloop *el, struct lws_context *ctx)
{
	el->ctx = ctx;
	if (ctx)
		lws_context_destroy(ctx);
#if defined(UWRELAY_LOOP_EV)
	if (el->loop)
		ev_loop_destroy(el->loop);
#elif defined(UWRELAY_LOOP_UV)
	if (el->loop) {
		/* lws closes its uv handles asynchronously: the loop must
		 * turn until their close callbacks have run; on a foreign loop
		 * lws then waits for a second lws_context_destroy() to free the
		 * context, and clears el->ctx when it has */
		for (int n = 0; n < 1000 && uv_run(el->loop, UV_RUN_NOWAIT); n++)
			;
		if (ctx && el->ctx)
			lws_context_destroy(ctx);
		for (int n = 0; n < 1000 && uv_run(el->loop, UV_RUN_NOWAIT); n++)
			;
		uv_loop_close(el->loop);
		free(el->loop);
	}
#endif
	el->loop = NULL;
	el->lws_idle = NULL;
}
