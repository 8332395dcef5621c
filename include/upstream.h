/* upstream.h: the UW client over the single link (upconn.h): its state,
 * backoff, health, budget and calls (upstream.c). */
#ifndef UWRELAY_UPSTREAM_H
#define UWRELAY_UPSTREAM_H

#include <libwebsockets.h>
#include <stdint.h>
#include "config.h"
#include "log.h"
#include "registry.h"
#include "tokenbucket.h"
#include "upconn.h"

/* Largest read from UW's socket (lws' per-thread pt_serv_buf_size). */
#define UPSTREAM_READ_BYTES 65536

struct resolve_req;

enum upstream_state {
	UP_DISABLED = 0,	/* no token: never connects */
	UP_WAITING,		/* waiting for the retry timer */
	UP_CONNECTING,		/* connect in progress */
	UP_CONNECTED,		/* WebSocket established */
	UP_STOPPED,		/* shutting down */
};

/* What the UW client asks of its owner (the relay), so that it needs no
 * relay.h: both are called on the loop with the owner given to upstream_init. */
struct upstream_hooks {
	/* A data frame for ch, which has subscribers: deliver it. */
	void (*publish)(void *owner, struct reg_channel *ch, const char *payload, size_t len,
			int64_t recv_ms, uint64_t rx_us);
	/* The link came up (up = 1) or went down (why: the last error). */
	void (*link)(void *owner, int up, const char *why);
	/* 1 if channel name[0..len) is polled over REST, not joined at UW. */
	int (*polled)(void *owner, const char *name, size_t len);
};

struct upstream {
	const struct upstream_hooks *hooks;
	void *owner;
	const struct config *cfg;	/* the owner's, current across reloads */
	struct registry *reg;
	struct lws_context *ctx;	/* set by upstream_attach */
	struct lws_vhost *vh;
	int wake_fd;			/* for the resolver's answer */
	const char *token;		/* secret: the owner's, or NULL */
	struct upconn conn;		/* the transport: TLS, upgrade, frames */
	enum upstream_state state;
	unsigned attempt;		/* failed attempts since the last good connect */
	lws_sorted_usec_list_t sul_retry;
	lws_sorted_usec_list_t sul_health;
	lws_sorted_usec_list_t sul_ack;
	unsigned unacked;		/* joins past ack_timeout without an ack */
	uint64_t next_retry_at_ms;
	uint64_t connected_since_ms;	/* 0 when not connected */
	uint64_t last_frame_ms;		/* last data or ack frame */
	uint64_t last_rx_ms;		/* last anything (frame or pong) */
	uint64_t rx_us;			/* when the current message arrived */
	uint64_t ping_sent_ms;		/* 0: no ping outstanding */
	char last_error[256];
	struct resolve_req *resolving;	/* DNS lookup in progress, or NULL */
	char address[256];		/* numeric address to connect to */
	char disabled_reason[256];
	/* counters */
	uint64_t frames_in, bytes_in, malformed, oversize, acks_ok, acks_failed;
	uint64_t unrouted, joins_sent, leaves_sent, connects, disconnects;
	struct log_ratelimit rl_malformed;
	struct log_ratelimit rl_ack;
	/* One budget for every join and leave sent to UW (upstream.budget),
	 * kept across reconnects; sul_reconcile wakes the reconciler when a
	 * token is due or a lingering leave is over. */
	struct tokenbucket budget;
	lws_sorted_usec_list_t sul_reconcile;
	uint64_t budget_stalls;		/* times the reconciler stopped on an empty bucket */
	uint64_t join_wait_last_ms, join_wait_max_ms;	/* first subscriber to its join */
	uint32_t sent_win[10];		/* joins + leaves sent per second, the last 10 s ... */
	uint64_t sent_win_sec[10];	/* ... and which second each slot counts */
	struct log_ratelimit rl_budget;
};

/* What /api/stream/status and /metrics show of the budget. */
struct upstream_budget_info {
	double rate, burst, tokens;
	uint32_t queued_joins, queued_leaves, lingering;
	uint64_t sent_10s;		/* joins + leaves in the last 10 s */
};

/* Sets up an idle client reading cfg (kept by pointer) and the channels of reg. */
void upstream_init(struct upstream *up, const struct config *cfg, struct registry *reg,
		   const struct upstream_hooks *hooks, void *owner);
/* The loop it runs on, once the context exists; token (kept by pointer,
 * may be NULL: then it stays disabled). */
void upstream_attach(struct upstream *up, struct lws_context *ctx, struct lws_vhost *vh,
		     int wake_fd, const char *token);
/* Starts connecting (or stays disabled with the given reason). */
void upstream_start(struct upstream *up);
/* A host name lookup finished (called on the loop). */
void upstream_resolved(struct upstream *up);
/* Applies a changed upstream url: reconnects to it. */
void upstream_reconfigure(struct upstream *up);
/* Leaves UW politely and stops reconnecting. */
void upstream_stop(struct upstream *up);
/* A channel got its first subscriber or lost its last: reconcile (a
 * join at once if the budget allows, a leave after upstream.leave_delay). */
void upstream_channel_changed(struct upstream *up, struct reg_channel *ch);
/* The configuration was reloaded: the reconciler runs again under the new
 * budget and leave_delay. */
void upstream_config_changed(struct upstream *up);
/* Fills *out with the join/leave budget's state now. */
void upstream_budget_info(const struct upstream *up, struct upstream_budget_info *out);
/* Cancels its timers and frees its buffers; it is stopped from then on. */
void upstream_free(struct upstream *up);
/* The words upstream_status_word can return, in a fixed order. */
#define UPSTREAM_STATUS_WORDS 4
extern const char *const upstream_status_words[UPSTREAM_STATUS_WORDS];
/* "connected", "disconnected", "disabled" or "unauthorized". */
const char *upstream_status_word(const struct upstream *up);
/* The state as /api/stream/status names it: "connected", "connecting",
 * "waiting_to_retry", "stopped" or "disabled". */
const char *upstream_state_name(const struct upstream *up);

#endif
