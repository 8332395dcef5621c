/* rconn.c: a hiredis async context on the libwebsockets loop (see rconn.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>
#include "backoff.h"
#include "clock.h"
#include "log.h"
#include "rconn.h"

#define WATCH_US (250 * 1000)

static void rconn_connect(struct rconn *c);
static void set_error(struct rconn *c, const char *why);

static void
retry_cb(lws_sorted_usec_list_t *sul)
{
	struct rconn *c = lws_container_of(sul, struct rconn, sul_retry);

	if (!c->stopped && !c->ac)
		rconn_connect(c);
}

static void
schedule_retry(struct rconn *c)
{
	/* Redis is usually near: retry fast, then settle at 2 s */
	struct backoff_cfg bc = { 0.1, 2.0, 0.2 };
	uint32_t rnd = 0;
	uint64_t ms;

	if (c->stopped)
		return;
	lws_get_random(c->ctx, &rnd, sizeof(rnd));
	ms = backoff_delay_ms(&bc, ++c->attempt, (double)rnd / 4294967296.0);
	lws_sul_schedule(c->ctx, 0, &c->sul_retry, retry_cb, (lws_usec_t)ms * 1000);
}

/* ---- hiredis' event hooks ---- */

static void
ev_add_write(void *priv)
{
	struct rconn *c = priv;

	if (c->wsi)
		lws_callback_on_writable(c->wsi);
}

static void
ev_nothing(void *priv)
{
	(void)priv;	/* lws always watches POLLIN; a spurious wake-up reads nothing */
}

/* hiredis is done with the context (freed by us, by an error, or after a
 * failed connect): the single place where a link ends. */
static void
ev_cleanup(void *priv)
{
	struct rconn *c = priv;
	int was_up = c->up;

	/* hiredis calls its disconnect callback only after this: say why here */
	if (!c->dropping && was_up)
		set_error(c, c->ac && c->ac->err && c->ac->errstr[0] ? c->ac->errstr : "connection closed");
	c->dropping = 0;
	c->ac = NULL;
	c->up = 0;
	c->blocking = 0;
	c->waiting_since_ms = 0;
	lws_sul_cancel(&c->sul_watch);
	if (c->wsi) {
		lws_set_opaque_user_data(c->wsi, NULL);
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		c->wsi = NULL;
	}
	if (was_up) {
		c->drops++;
		if (!c->stopped)
			log_msg(LOG_WARN, "redis %s: link lost%s%s", c->name, c->last_error[0] ? ": " : "",
				c->last_error);
	}
	if (c->stopped)
		return;
	schedule_retry(c);
	if (was_up && c->on_state)
		c->on_state(c, 0);
}

static void
set_error(struct rconn *c, const char *why)
{
	snprintf(c->last_error, sizeof(c->last_error), "%s", why);
}

static void
on_auth(redisAsyncContext *ac, void *r, void *priv)
{
	struct rconn *c = priv;
	redisReply *rep = r;

	(void)ac;
	if (!rep || c->ac != ac)
		return;
	if (rep->type == REDIS_REPLY_ERROR) {
		char why[160];

		snprintf(why, sizeof(why), "AUTH refused: %.120s", rep->str);
		rconn_drop(c, why);
	}
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	struct rconn *c = ac->ev.data;

	if (status != REDIS_OK) {
		set_error(c, ac->errstr[0] ? ac->errstr : "connect failed");
		log_limited(&c->rl, clock_mono_ms(), LOG_WARN, "redis %s: cannot connect: %s", c->name, c->last_error);
		return;		/* hiredis frees the context: ev_cleanup retries */
	}
	c->up = 1;
	c->attempt = 0;
	c->connects++;
	log_msg(LOG_INFO, "redis %s: connected", c->name);
	if (c->password) {
		const char *argv[2] = { "AUTH", c->password };
		size_t lens[2] = { 4, strlen(c->password) };

		rconn_cmd(c, on_auth, c, 0, 2, argv, lens);
	}
	if (c->on_state)
		c->on_state(c, 1);
}

/* ---- the watchdog ---- */

static void
watch_cb(lws_sorted_usec_list_t *sul)
{
	struct rconn *c = lws_container_of(sul, struct rconn, sul_watch);
	uint64_t now = clock_mono_ms(), limit = c->timeout_ms;

	if (!c->ac)
		return;
	if (!c->up)	/* still connecting */
		limit = c->timeout_ms;
	else if (c->blocking)
		limit += c->grace_ms;
	if (!c->ac->replies.head && c->up)
		c->waiting_since_ms = 0;
	if (c->waiting_since_ms && now - c->waiting_since_ms > limit) {
		char why[96];

		snprintf(why, sizeof(why), "no answer within %.1f s", (double)limit / 1000.0);
		rconn_drop(c, why);
		return;
	}
	lws_sul_schedule(c->ctx, 0, &c->sul_watch, watch_cb, WATCH_US);
}

static void
rconn_connect(struct rconn *c)
{
	redisAsyncContext *ac;
	lws_sock_file_fd_type u;
	int fd;

	if (c->addr.unix_path[0])
		ac = redisAsyncConnectUnix(c->addr.unix_path);
	else
		ac = redisAsyncConnect(c->addr.host, c->addr.port);
	if (!ac) {
		set_error(c, "out of memory");
		schedule_retry(c);
		return;
	}
	if (ac->err) {
		set_error(c, ac->errstr);
		log_limited(&c->rl, clock_mono_ms(), LOG_WARN, "redis %s: cannot connect: %s", c->name, c->last_error);
		redisAsyncFree(ac);
		schedule_retry(c);
		return;
	}
	fd = fcntl(ac->c.fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0) {
		set_error(c, strerror(errno));
		redisAsyncFree(ac);
		schedule_retry(c);
		return;
	}
	u.filefd = fd;
	c->wsi = lws_adopt_descriptor_vhost(c->vh, LWS_ADOPT_RAW_FILE_DESC, u, "uwrelay-redis", NULL);
	if (!c->wsi) {
		close(fd);
		set_error(c, "cannot watch the socket");
		redisAsyncFree(ac);
		schedule_retry(c);
		return;
	}
	lws_set_opaque_user_data(c->wsi, c);
	c->ac = ac;
	ac->ev.data = c;
	ac->ev.addRead = ev_nothing;
	ac->ev.delRead = ev_nothing;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_nothing;
	ac->ev.cleanup = ev_cleanup;
	redisAsyncSetConnectCallback(ac, on_connect);
	c->waiting_since_ms = clock_mono_ms();	/* the connect itself is timed too */
	lws_callback_on_writable(c->wsi);	/* completes the connect */
	lws_sul_schedule(c->ctx, 0, &c->sul_watch, watch_cb, WATCH_US);
}

void
rconn_start(struct rconn *c)
{
	c->stopped = 0;
	c->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(30000, 2);
	if (!c->ac)
		rconn_connect(c);
}

int
rconn_cmd(struct rconn *c, redisCallbackFn *fn, void *priv, int blocking, int argc,
	  const char **argv, const size_t *argvlen)
{
	if (!c->ac || !c->up)
		return -1;
	if (!c->ac->replies.head)
		c->waiting_since_ms = clock_mono_ms();
	if (redisAsyncCommandArgv(c->ac, fn, priv, argc, argv, argvlen) != REDIS_OK)
		return -1;
	if (blocking)
		c->blocking++;
	return 0;
}

int
rconn_cmdf(struct rconn *c, redisCallbackFn *fn, void *priv, const char *fmt, ...)
{
	va_list ap;
	int rc;

	if (!c->ac || !c->up)
		return -1;
	if (!c->ac->replies.head)
		c->waiting_since_ms = clock_mono_ms();
	va_start(ap, fmt);
	rc = redisvAsyncCommand(c->ac, fn, priv, fmt, ap);
	va_end(ap);
	return rc == REDIS_OK ? 0 : -1;
}

size_t
rconn_unsent(const struct rconn *c)
{
	return c->ac && c->ac->c.obuf ? sdslen(c->ac->c.obuf) : 0;
}

void
rconn_blocking_done(struct rconn *c)
{
	if (c->blocking)
		c->blocking--;
	c->waiting_since_ms = c->ac && c->ac->replies.head ? clock_mono_ms() : 0;
}

void
rconn_drop(struct rconn *c, const char *why)
{
	if (!c->ac)
		return;
	if (why)
		set_error(c, why);
	c->dropping = 1;
	redisAsyncFree(c->ac);	/* deferred by hiredis if inside one of its callbacks */
}

void
rconn_stop(struct rconn *c)
{
	c->stopped = 1;
	lws_sul_cancel(&c->sul_retry);
	lws_sul_cancel(&c->sul_watch);
	if (c->ac)
		redisAsyncFree(c->ac);
}

int
rconn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
	       size_t len)
{
	struct rconn *c = lws_get_opaque_user_data(wsi);

	(void)user;
	(void)in;
	(void)len;
	if (!c || c->wsi != wsi)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (c->ac->replies.head)
			c->waiting_since_ms = clock_mono_ms();	/* progress */
		redisAsyncHandleRead(c->ac);	/* may end the link: c->ac is gone then */
		break;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		redisAsyncHandleWrite(c->ac);
		break;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		/* lws gave up on the socket (hang-up): let hiredis end the link */
		c->wsi = NULL;
		rconn_drop(c, "connection closed");
		break;
	default:
		break;
	}
	return 0;
}
