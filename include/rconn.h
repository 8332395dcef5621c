/* rconn.h: one Redis connection (hiredis' async API) driven by the relay's
 * libwebsockets loop.
 *
 * hiredis reads and writes the socket itself; lws only watches it: a dup of
 * the socket is adopted as a raw file, so POLLIN calls
 * redisAsyncHandleRead() and a write wish (hiredis' addWrite) asks lws for
 * WRITEABLE, which calls redisAsyncHandleWrite(). Nothing blocks the loop:
 * the connect is non-blocking (numeric addresses only, see config_parse_redis)
 * and an lws timer drops a link whose oldest command has had no answer
 * within the timeout (a cut cable gives no RST). A dropped link is retried
 * with backoff for ever; on_state tells the owner when it goes up or down.
 * Commands given while the link is down are refused (-1), never queued. */
#ifndef UWRELAY_RCONN_H
#define UWRELAY_RCONN_H

#include <hiredis/async.h>
#include <libwebsockets.h>
#include <stdint.h>
#include "config.h"
#include "log.h"

struct rconn {
	struct lws_context *ctx;
	struct lws_vhost *vh;
	const char *name;		/* for logs: "commands", "reader" */
	struct config_redis addr;
	const char *password;		/* secret (AUTH), or NULL */
	uint64_t timeout_ms;		/* for an answer */
	uint64_t grace_ms;		/* added while a blocking command is out */
	void (*on_state)(struct rconn *c, int up);
	void *user;
	/* runtime */
	redisAsyncContext *ac;
	struct lws *wsi;		/* the adopted dup of ac's socket */
	int up;				/* connected (and authenticated) */
	int stopped;
	int dropping;			/* rconn_drop() is ending the link */
	unsigned attempt;
	uint64_t waiting_since_ms;	/* mono: oldest unanswered command was sent, 0 if none */
	uint64_t blocking;		/* blocking commands outstanding */
	lws_sorted_usec_list_t sul_retry, sul_watch;
	char last_error[160];		/* why the last link ended or failed */
	uint64_t connects, drops;
	struct log_ratelimit rl;	/* connect failures */
};

/* Starts connecting (and keeps reconnecting). */
void rconn_start(struct rconn *c);
/* Sends a command. fn gets the reply, or NULL if the link dropped first.
 * blocking: the answer may take up to grace_ms longer (XREAD BLOCK).
 * Returns 0, or -1 if the link is down (fn is not called). */
int rconn_cmd(struct rconn *c, redisCallbackFn *fn, void *priv, int blocking, int argc,
	      const char **argv, const size_t *argvlen);
/* printf-style variant (hiredis' format: %s, %b, %d ...). */
int rconn_cmdf(struct rconn *c, redisCallbackFn *fn, void *priv, const char *fmt, ...);
/* Drops the link now (pending callbacks get NULL) and retries later. */
void rconn_drop(struct rconn *c, const char *why);
/* Drops the link for good. */
void rconn_stop(struct rconn *c);
/* The lws protocol callback for "uwrelay-redis". */
int rconn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		   size_t len);
/* Bytes of commands hiredis holds not yet written to the socket. */
size_t rconn_unsent(const struct rconn *c);
/* Counts a reply as progress (call from reply callbacks of blocking commands). */
void rconn_blocking_done(struct rconn *c);

#endif
