/* upstream.h: the single WebSocket connection to UW: its state, budget and calls (upstream.c). */
#ifndef UWRELAY_UPSTREAM_H
#define UWRELAY_UPSTREAM_H

#include <libwebsockets.h>
#include <stdint.h>
#include "config.h"
#include "log.h"
#include "registry.h"
#include "tokenbucket.h"
#include "uptls.h"
#include "wsframe.h"

/* Largest read from UW's socket (lws' per-thread pt_serv_buf_size). */
#define UPSTREAM_READ_BYTES 65536

struct relay;
struct resolve_req;

enum upstream_state {
	UP_DISABLED = 0,	/* no token: never connects */
	UP_WAITING,		/* waiting for the retry timer */
	UP_CONNECTING,		/* connect in progress */
	UP_CONNECTED,		/* WebSocket established */
	UP_STOPPED,		/* shutting down */
};

struct upstream {
	struct relay *relay;
	struct lws *wsi;
	enum upstream_state state;
	int unauthorized;		/* last handshake got 401 */
	unsigned attempt;		/* failed attempts since the last good connect */
	char url_masked[900];		/* for logs and status */
	char *path_with_token;		/* secret: never logged */
	struct config_url url;
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
	int ping_due;
	/* Our own WebSocket framing on a raw lws connection (wsframe.h):
	 * the upgrade request, its answer, then frames both ways. */
	int hs_state;			/* UPHS_* */
	char ws_key[25];		/* Sec-WebSocket-Key of this attempt */
	char *hs_buf;			/* the answer's head, then a refusal's body */
	size_t hs_len;
	long hs_head_len;		/* > 0 once the head is parsed */
	struct wsf_response hs_resp;
	int attempt_failed;		/* last_error already says why this attempt failed */
	struct wsf_rx wsrx;
	uint8_t pong_due, pong_len;
	uint8_t pong_payload[125];
	uint16_t close_due;		/* send a close with this code, then hang up */
	int closing;			/* a close was received or sent: ignore further input */
	SSL_CTX *tls_ctx;		/* for wss://, made once (ca_file needs a restart) */
	struct uptls tls;		/* this connection's TLS, if wss:// */
	char *plain;			/* decrypted bytes, UPSTREAM_PLAIN_CAP */
	char last_error[256];
	struct resolve_req *resolving;	/* DNS lookup in progress, or NULL */
	char address[256];		/* numeric address to connect to */
	char auth_reason[200];		/* UW's text for the last 401, "" if unknown */
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

void upstream_init(struct upstream *up, struct relay *r);
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
void upstream_free(struct upstream *up);
/* "connected", "disconnected", "disabled" or "unauthorized". */
const char *upstream_status_word(const struct upstream *up);
int upstream_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		      void *in, size_t len);

#endif
