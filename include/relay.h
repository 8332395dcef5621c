/* relay.h: the runtime state of one uwrelay process (struct relay) and the
 * relay's own functions: the context, the loop, reloads, and where frames
 * and channel changes go. Each module that acts on it has its own header
 * (upstream.h, session.h, source.h, conn.h, http_api.h, ...). */
#ifndef UWRELAY_RELAY_H
#define UWRELAY_RELAY_H

#include <libwebsockets.h>
#include <stdint.h>
#include "access.h"
#include "assets.h"
#include "cluster.h"
#include "config.h"
#include "filtab.h"
#include "deflate.h"
#include "evloop.h"
#include "ipcount.h"
#include "listener.h"
#include "log.h"
#include "lathist.h"
#include "registry.h"
#include "statring.h"
#include "upstream.h"
#include "version.h"

struct conn;
struct session;
struct source;
struct tapeq;
struct replay;
struct replay_opts;
struct tape;

struct relay {
	struct config cfg;
	struct lws_context *ctx;
	struct evloop loop;		/* the loop under ctx (evloop.h) */
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
	struct lathist latency;		/* fan-out latency (session.c), for /metrics */
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
	lws_sorted_usec_list_t sul_pending;	/* the oldest pending connection's deadline (conn.c) */
	uint64_t watchdog_usec;
	int exit_code;
	struct tapeq *tape_reader;	/* the tape's reader (history, resume); NULL without tape.path */
	struct replay *replay;		/* --replay: the source instead of UW; NULL when live */
	struct filtab filters;		/* subscribers' distinct filters (session.c) */
	struct deflater deflater;	/* compresses shared frames for permessage-deflate (deflate.h) */
	lws_sorted_usec_list_t sul_sse_hb;	/* heartbeats to SSE streams (sse.c) */
	uint64_t n_sse;			/* SSE streams open (also counted in n_sessions) */
	struct tape *tape;		/* tape.path set (not on an edge); else NULL */
	struct reg_sub tape_sub;	/* keeps tape.channels joined */
	lws_sorted_usec_list_t sul_tape;	/* reports the tape's troubles from the loop */
	struct statring recent;		/* the last minutes, for the status page */
	lws_sorted_usec_list_t sul_recent;
};

/* ---- relay.c ---- */
/* Builds the context, listeners and upstream client (or, with replay, a
 * replay of a tape instead of UW). Returns 0, or -1 after logging why.
 * cfg is taken over by the relay. */
int relay_init(struct relay *r, struct config *cfg, const char *config_path,
	       const struct replay_opts *replay);
/* Runs the event loop until a stop signal. Returns the exit code. */
int relay_run(struct relay *r);
void relay_destroy(struct relay *r);
/* Reads the token from the environment or token_file. Returns a malloc'd
 * token, or NULL (reason in why). */
char *relay_read_token(const struct config *cfg, char *why, size_t whylen);
/* The rule for a listener beyond loopback: subscriber tokens, or the
 * operator's explicit allow_anonymous. 1 if cfg with tokens a breaks it. */
int relay_open_without_auth(const struct config *cfg, const struct access *a);
/* SIGHUP (reload.c): reads the file again and applies what may change;
 * a file that does not load changes nothing (logged, counted). */
void relay_reload(struct relay *r);

/* A channel got its first subscriber or lost its last: the REST source
 * that feeds it, or UW's socket, is told. */
void relay_channel_changed(struct relay *r, struct reg_channel *ch);
/* The one delivery path (standalone, REST sources, a cluster edge): the
 * frame with seq, enveloped once, counted, kept in ch's history and, with
 * fanout, queued to every subscriber. Returns 0, or -1 out of memory
 * (logged; the frame is lost, its seq is not reused). */
int relay_deliver(struct relay *r, struct reg_channel *ch, uint64_t seq, int64_t recv_ms, uint64_t t_us,
		  const char *payload, size_t len, int fanout);
/* A frame for ch from UW or a REST source: delivered with the next seq,
 * or appended to the shared stream on an ingest relay. */
void relay_publish(struct relay *r, struct reg_channel *ch, const char *payload, size_t len,
		   int64_t recv_ms, uint64_t t_us);
/* The epoch ch's envelopes carry: the tape's for a taped channel, else the
 * relay's (the cluster's in cluster mode). */
static inline const char *relay_channel_epoch(const struct relay *r, const struct reg_channel *ch)
{
	return ch->epoch ? ch->epoch : r->epoch;
}
/* The UW link's state as this relay's browsers should see it (an edge
 * reports the ingest's), and whether the relay is ready to serve. */
const char *relay_upstream_word(const struct relay *r);
int relay_ready(const struct relay *r);

#endif
