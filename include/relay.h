/* relay.h: the runtime state of one uwrelay process, and the modules that
 * act on it through libwebsockets (upstream client, browser sessions, HTTP
 * API). Pure logic lives in the other headers. */
#ifndef UWRELAY_RELAY_H
#define UWRELAY_RELAY_H

#include <libwebsockets.h>
#include <stdint.h>
#include "access.h"
#include "assets.h"
#include "cluster.h"
#include "config.h"
#include "httpans.h"
#include "httpreq.h"
#include "ipcount.h"
#include "listener.h"
#include "frame.h"
#include "log.h"
#include "outq.h"
#include "registry.h"
#include "resolver.h"
#include "seenset.h"
#include "tokenbucket.h"
#include "uptls.h"
#include "wsframe.h"

#define UWRELAY_VERSION "0.1.0"
#define UWRELAY_USER_AGENT "uwrelay/" UWRELAY_VERSION

/* Bytes of whole frames copied into one write to a browser. It also bounds
 * what lws keeps aside when a socket takes only part of a write (a heap
 * copy outside the queue's byte limit): 16 KB holds 16 frames of 1 KB, so
 * bursts still share a syscall, and a slow subscriber pins at most
 * max_queue_bytes + 16 KB. */
#define SCRATCH_BYTES 16384

/* Largest read from UW's socket (lws' per-thread pt_serv_buf_size). */
#define UPSTREAM_READ_BYTES 65536

/* Close codes the relay sends to browsers (documented in docs/PROTOCOL.md). */
#define CLOSE_SLOW_CONSUMER 4001	/* send queue went over clients.max_queue_bytes */
#define CLOSE_ENDPOINT_REMOVED 4002	/* a reload removed or changed this endpoint */
#define CLOSE_POLICY 1008		/* RFC 6455: policy violation (message rate) */

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

/* A REST-polled channel (source.c). */
struct source {
	struct relay *relay;
	struct {			/* own copies: a reload cannot pull them away */
		char *channel;
		char *id_field;
		double interval;
	} cfg;
	struct config_url url;		/* upstream.rest_url */
	char path[512];			/* path?query, no secret in it */
	char path_shown[900];
	char address[256];		/* resolved rest host */
	struct resolve_req *resolving;
	struct lws *wsi;		/* request in flight */
	lws_sorted_usec_list_t sul;
	uint64_t next_poll_at_ms;	/* monotonic; 0 when none is scheduled */
	int polling;			/* the channel has subscribers */
	unsigned failures;		/* consecutive failed polls */
	/* the answer being read */
	int status, overflow, conn_error;
	unsigned retry_after;
	char *body;
	size_t body_len, body_cap;
	/* what status shows */
	int last_status;
	uint64_t last_poll_ms;
	uint64_t last_poll_mono_ms;	/* when the last request started; 0: never */
	char last_error[200];
	uint64_t polls, rows, malformed, errors;
	struct seenset seen;
	struct log_ratelimit rl;
};

struct conn;

struct session {
	struct lws *wsi;
	struct relay *relay;
	struct session *prev, *next;	/* every WebSocket session */
	struct reg_sub sub;
	struct outq q;
	char endpoint_channel[CHNAME_MAX + 1];	/* "" on the generic endpoint */
	char endpoint_path[128];
	char peer[IPCOUNT_ADDR_MAX];	/* client address, for max_per_ip */
	uint8_t is_ws;
	uint8_t generic;
	uint8_t flush_queued;		/* on the relay's flush list (see session_batch_end) */
	struct session *flush_next;
	uint16_t close_code;		/* non-zero: close with this at the next chance */
	const char *close_reason;	/* static text sent with close_code */
	size_t replay_bonus;		/* queue allowance still owed to a resume replay */
	struct tokenbucket msg_budget;	/* clients.max_msg_rate: messages, pings, pongs and ?channels= names */
};

#define METRICS_BUCKETS 13

struct metrics {
	uint64_t lat_buckets[METRICS_BUCKETS];	/* fan-out latency histogram */
	uint64_t lat_sum_us, lat_count;
};

struct relay {
	struct config cfg;
	struct lws_context *ctx;
	struct lws_vhost *vh_server;
	struct lws_vhost *vh_client;
	struct registry reg;
	struct upstream up;
	struct cluster cl;		/* Redis scale-out; inert when standalone */
	char epoch[17];
	uint64_t start_ms;
	char *token;			/* secret */
	int allowed_anywhere;		/* listening beyond loopback */
	struct access access;		/* subscriber tokens */
	struct asset_dir static_files;	/* http.static_dir, loaded in memory */
	struct ipcount per_ip;		/* WebSocket sessions per client address */
	struct listener lis;		/* the browser port */
	struct conn *pend_head, *pend_tail;	/* connections without a finished request, oldest first */
	uint32_t n_pending;
	struct ipcount pending_ip;	/* pending connections per client address */
	uint64_t n_conns;		/* browser-port connections open */
	uint64_t answers_held;		/* bytes of HTTP answers built and not yet handed to lws (conn.c) */
	uint64_t bad_requests;		/* request heads refused as malformed or too large */
	struct log_ratelimit rl_refusals, rl_clients;
	uint64_t auth_failures, origin_refusals, host_refusals, limit_refusals;
	struct source *sources;		/* REST-polled channels */
	size_t n_sources;
	struct session *sessions;	/* WebSocket sessions */
	uint64_t n_sessions;
	uint64_t slow_closed;		/* closed for a full send queue */
	uint64_t frames_out;		/* frame deliveries queued */
	struct metrics metrics;
	unsigned char *scratch;		/* LWS_PRE + SCRATCH_BYTES: coalesced writes */
	int batch_depth;		/* session_batch_begin() nesting */
	struct session *flush_head;	/* queues to write when the batch ends */
	const char *config_path;	/* for SIGHUP reloads; NULL: built-in defaults */
	uint64_t reloads, reload_failures;
	int signal_fd;
	int wake_fd;			/* eventfd: a resolver thread finished */
	int stopping;
	uint64_t stop_deadline_ms;
	lws_sorted_usec_list_t sul_stop;
	lws_sorted_usec_list_t sul_watchdog;
	uint64_t watchdog_usec;
	int exit_code;
};

/* Milliseconds since the epoch, wall clock (for timestamps). */
uint64_t relay_now_ms(void);
/* Milliseconds from a monotonic clock (for timers and intervals). */
uint64_t relay_mono_ms(void);

/* ---- relay.c ---- */
/* Builds the context, listeners and upstream client. Returns 0, or -1
 * after logging why. cfg is taken over by the relay. */
int relay_init(struct relay *r, struct config *cfg, const char *config_path);
/* Runs the event loop until a stop signal. Returns the exit code. */
int relay_run(struct relay *r);
void relay_destroy(struct relay *r);
/* Reads the token from the environment or token_file. Returns a malloc'd
 * token, or NULL (reason in why). */
char *relay_read_token(const struct config *cfg, char *why, size_t whylen);

/* ---- upstream.c ---- */
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

/* ---- source.c ---- */
/* Builds the runtime sources from the config. Returns 0 or -1. */
int sources_init(struct relay *r);
void sources_free(struct relay *r);
struct source *source_by_channel(struct relay *r, const char *name, size_t len);
/* The channel got its first subscriber (on) or lost its last. */
void source_wanted(struct source *src, int on);
/* A host name lookup finished (called on the loop). */
void source_resolved(struct source *src);
int source_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		    void *in, size_t len);

/* ---- relay.c ---- */
/* A channel got its first subscriber or lost its last: the REST source
 * that feeds it, or UW's socket, is told. */
void relay_channel_changed(struct relay *r, struct reg_channel *ch);
/* A frame for ch from UW or a REST source: enveloped and sent to its
 * subscribers, or appended to the shared stream on an ingest relay. */
void relay_publish(struct relay *r, struct reg_channel *ch, const char *payload, size_t len,
		   int64_t recv_ms, uint64_t t_us);
/* The UW link's state as this relay's browsers should see it (an edge
 * reports the ingest's), and whether the relay is ready to serve. */
const char *relay_upstream_word(const struct relay *r);
int relay_ready(const struct relay *r);

/* ---- session.c ---- */
/* A WebSocket was accepted on path with query (may be NULL; checked
 * well-formed): registers s and subscribes it. Returns 0, or -1 (OOM). */
int session_established(struct session *s, struct lws *wsi, struct relay *r, const char *peer,
			const char *path, const char *query, size_t qlen);
/* A whole message from the client (text checked UTF-8). Returns 0, or -1
 * to close at once. */
int session_receive(struct session *s, const char *in, size_t len);
/* Charges one client message (data or control frame) against its
 * budget. Returns 0, or -1 if it is over (s is being closed with 1008). */
int session_charge(struct session *s);
int session_writeable(struct session *s);
void session_closed(struct session *s);
/* Sends frame f (shared) to every subscriber of ch. */
void session_fanout(struct relay *r, struct reg_channel *ch, struct frame *f);
/* Around the handling of one input (an upstream read, a REST answer, a
 * Redis reply): queues that become non-empty meanwhile are written when
 * the batch ends, instead of each waiting for its own WRITEABLE. Nests. */
void session_batch_begin(struct relay *r);
void session_batch_end(struct relay *r);
/* Replays ch's history after since (epoch "" = any) to s, as a resume. */
void session_resume(struct session *s, struct reg_channel *ch, uint64_t since, const char *epoch);
/* Sends one $relay notice (built once) to every subscriber of ch. */
void session_channel_notice(struct relay *r, struct reg_channel *ch, const char *data_json);
/* Queues a $relay notice with data object `data_json` to s. */
void session_notice(struct session *s, const char *data_json);
/* Sends one $relay notice (built once) to every session. */
void session_broadcast_notice(struct relay *r, const char *data_json);
/* Tells every browser the UW link went up or down (reason: when down, may
 * be NULL), so a UI can tell an outage from a quiet market. */
void session_broadcast_upstream(struct relay *r, int up, const char *reason);
/* Schedules s to be closed with code and reason. */
void session_close(struct session *s, uint16_t code, const char *reason);
/* After a reload: closes sessions whose endpoint is gone and drops
 * subscriptions to channels no longer allowed. */
void session_config_changed(struct relay *r);
/* 1 if path (and query) names a WebSocket endpoint the relay serves. */
int session_path_known(struct relay *r, const char *path);

/* ---- notify.c (systemd; no-ops outside it) ---- */
void notify_ready(struct relay *r);
void notify_status(struct relay *r);
void notify_reloading(int on);
void notify_stopping(struct relay *r);

/* ---- metrics.c ---- */
void metrics_observe_latency(struct metrics *m, uint64_t us);
/* The Prometheus exposition text (malloc'd), or NULL on OOM. */
char *metrics_text(struct relay *r);
/* Microseconds from a monotonic clock. */
uint64_t relay_mono_us(void);

/* ---- http_api.c ---- */
/* Fills the answer to GET path (API, health, metrics or a file). Returns
 * 0, or -1 on OOM. */
int http_api_answer(struct relay *r, const char *path, struct http_answer *a);

#endif
