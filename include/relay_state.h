/* relay_state.h: the runtime state of one uwrelay process (struct relay),
 * which the modules serving browsers, REST sources, the cluster and the
 * operator's API act on, and the calls they make up to the relay.
 *
 * It sits below those modules: it includes only the lower ones whose
 * structs it embeds, and knows the modules above it by pointers to their
 * opaque structs (the cluster, the listener, sessions, sources, the tape).
 * What a module below must ask of the modules above (a channel's first
 * subscriber must be joined at UW or polled, a frame must be published,
 * what the UW link's state is) goes through relay_hooks, which relay.c,
 * the top that wires the modules together, fills in at init (relay.h). */
#ifndef UWRELAY_RELAY_STATE_H
#define UWRELAY_RELAY_STATE_H

#include <libwebsockets.h>
#include <stddef.h>
#include <stdint.h>
#include "access.h"
#include "assets.h"
#include "config.h"
#include "deflate.h"
#include "evloop.h"
#include "filtab.h"
#include "ipcount.h"
#include "lathist.h"
#include "log.h"
#include "registry.h"
#include "statring.h"
#include "upstream.h"

struct cluster;
struct conn;
struct listener;
struct relay;
struct replay;
struct session;
struct source;
struct tape;
struct tapeq;

/* The relay's part in what the modules below it do; each is relay.c's
 * (relay.h says how they route). */
struct relay_hooks {
	void (*channel_changed)(struct relay *r, struct reg_channel *ch);
	int (*deliver)(struct relay *r, struct reg_channel *ch, uint64_t seq, int64_t recv_ms,
		       uint64_t t_us, const char *payload, size_t len, int fanout);
	void (*publish)(struct relay *r, struct reg_channel *ch, const char *payload, size_t len,
			int64_t recv_ms, uint64_t t_us);
	const char *(*upstream_word)(const struct relay *r);
	int (*ready)(const struct relay *r);
	int (*defer_resume)(struct relay *r, struct reg_channel *ch, struct session *s,
			    uint64_t since, const char *epoch);
	void (*session_gone)(struct relay *r, struct session *s);
};

struct relay {
	const struct relay_hooks *hooks;	/* the calls up to relay.c */
	struct config cfg;
	struct lws_context *ctx;
	struct evloop loop;		/* the loop under ctx (evloop.h) */
	struct lws_vhost *vh_server;
	struct lws_vhost *vh_client;
	struct registry reg;
	struct upstream up;
	struct cluster *cl;		/* Redis scale-out; inert when standalone (cluster.h) */
	char epoch[17];
	uint64_t start_ms;
	char *token;			/* secret */
	int allowed_anywhere;		/* listening beyond loopback */
	struct access access;		/* subscriber tokens */
	struct asset_dir static_files;	/* http.static_dir, loaded in memory */
	struct ipcount per_ip;		/* WebSocket sessions per client address */
	struct listener *lis;		/* the browser port (listener.h) */
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

/* A channel got its first subscriber or lost its last: the REST source
 * that feeds it, UW's socket, or on an edge the cluster, is told. */
static inline void
relay_channel_changed(struct relay *r, struct reg_channel *ch)
{
	r->hooks->channel_changed(r, ch);
}

/* The one delivery path (standalone, REST sources, a cluster edge): the
 * frame with seq, enveloped once, counted, kept in ch's history and, with
 * fanout, queued to every subscriber. Returns 0, or -1 out of memory
 * (logged; the frame is lost, its seq is not reused). */
static inline int
relay_deliver(struct relay *r, struct reg_channel *ch, uint64_t seq, int64_t recv_ms, uint64_t t_us,
	      const char *payload, size_t len, int fanout)
{
	return r->hooks->deliver(r, ch, seq, recv_ms, t_us, payload, len, fanout);
}

/* A frame for ch from UW, a REST source or a replayed tape: delivered with
 * the next seq, or appended to the shared stream on an ingest relay. */
static inline void
relay_publish(struct relay *r, struct reg_channel *ch, const char *payload, size_t len,
	      int64_t recv_ms, uint64_t t_us)
{
	r->hooks->publish(r, ch, payload, len, recv_ms, t_us);
}

/* The UW link's state as this relay's browsers should see it (an edge
 * reports the ingest's, a replay "replay"). */
static inline const char *
relay_upstream_word(const struct relay *r)
{
	return r->hooks->upstream_word(r);
}

/* 1 if the relay is ready to serve (/readyz). */
static inline int
relay_ready(const struct relay *r)
{
	return r->hooks->ready(r);
}

/* s asked to resume ch from since before a cluster edge has read the
 * channel's stream: the replay waits. Returns 1 if deferred (never on a
 * relay that is not an edge). */
static inline int
relay_defer_resume(struct relay *r, struct reg_channel *ch, struct session *s, uint64_t since,
		   const char *epoch)
{
	return r->hooks->defer_resume(r, ch, s, since, epoch);
}

/* s is going away: whatever waits for it elsewhere (a deferred resume) is
 * forgotten. */
static inline void
relay_session_gone(struct relay *r, struct session *s)
{
	r->hooks->session_gone(r, s);
}

/* The epoch ch's envelopes carry: the tape's for a taped channel, else the
 * relay's (the cluster's in cluster mode). */
static inline const char *
relay_channel_epoch(const struct relay *r, const struct reg_channel *ch)
{
	return ch->epoch ? ch->epoch : r->epoch;
}

#endif
