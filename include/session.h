/* session.h: a browser WebSocket session, its subscriptions and the fan-out to it (session.c). */
#ifndef UWRELAY_SESSION_H
#define UWRELAY_SESSION_H

#include <libwebsockets.h>
#include <stdint.h>
#include "chname.h"
#include "frame.h"
#include "ipcount.h"
#include "outq.h"
#include "registry.h"
#include "tokenbucket.h"

/* Bytes of whole frames copied into one write to a browser. It also bounds
 * what lws keeps aside when a socket takes only part of a write (a heap
 * copy outside the queue's byte limit): 16 KB holds 16 frames of 1 KB, so
 * bursts still share a syscall, and a slow subscriber pins at most
 * max_queue_bytes + 16 KB. */
#define SCRATCH_BYTES 16384

/* Close codes the relay sends to browsers (documented in docs/PROTOCOL.md). */
#define CLOSE_SLOW_CONSUMER 4001	/* send queue went over clients.max_queue_bytes */
#define CLOSE_ENDPOINT_REMOVED 4002	/* a reload removed or changed this endpoint */
#define CLOSE_POLICY 1008		/* RFC 6455: policy violation (message rate) */

#define SESSION_TAPE_MAX 4	/* resumes from the tape at once per socket */

struct relay;
struct tapeq_req;

/* How a session's queued frames go on the wire: each form is built once
 * per frame and shared (frame.h). */
enum session_wire {
	SESSION_WIRE_WS = 0,		/* WebSocket frames as sealed */
	SESSION_WIRE_WS_DEFLATE,	/* permessage-deflate negotiated (deflate.h) */
	SESSION_WIRE_SSE,		/* text/event-stream events (sseenc.h, sse.c) */
};

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
	uint8_t wire;			/* enum session_wire; set after session_established */
	uint8_t z_bits;			/* SESSION_WIRE_WS_DEFLATE: the window the client reads (9..15) */
	struct session *flush_next;
	uint16_t close_code;		/* non-zero: close with this at the next chance */
	const char *close_reason;	/* static text sent with close_code */
	size_t replay_bonus;		/* queue allowance still owed to a resume replay */
	struct tokenbucket msg_budget;	/* clients.max_msg_rate: messages, pings, pongs and ?channels= names */
	/* A resume older than memory waits for the tape (tape_resume.c):
	 * meanwhile every frame for s waits in held, so the tape's frames go
	 * out first and nothing is sent twice or skipped. */
	struct tapeq_req *tape[SESSION_TAPE_MAX];
	uint8_t n_tape;
	struct outq held;
};

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
/* Around one pass of the event loop (relay_run): queues that become
 * non-empty meanwhile are written when the batch ends, instead of each
 * waiting for its own WRITEABLE. Nests. */
void session_batch_begin(struct relay *r);
/* Returns 1 if it wrote (or closed) anything, else 0. */
int session_batch_end(struct relay *r);
/* Replays ch's history after since (epoch "" = any) to s, as a resume. */
void session_resume(struct session *s, struct reg_channel *ch, uint64_t since, const char *epoch);
/* Queues frame f (shared) for s: held while s waits for the tape.
 * Returns 0, or -1 if s was closed as too slow. */
int session_push(struct session *s, struct frame *f);
/* The last tape resume of s is done: what was held goes out, in order. */
void session_release_held(struct session *s);
/* Sends one $relay notice (built once) to every subscriber of ch. */
void session_channel_notice(struct relay *r, struct reg_channel *ch, const char *data_json);
/* Queues a $relay notice with data object `data_json` to s. */
void session_notice(struct session *s, const char *data_json);
/* A notice object {"type": type, "channel": channel (left out if NULL)},
 * or NULL without memory (cJSON's adders accept NULL). */
struct cJSON *session_notice_new(const char *type, const char *channel);
/* Sends s a notice of type (about channel, if not NULL) with an optional
 * "code" and "message". */
void session_notice_kv(struct session *s, const char *type, const char *channel, const char *code,
		       const char *message);
/* The one way a notice object goes out: printed once, sent to s, else to
 * every subscriber of ch, else to every browser; o is freed (NULL: nothing). */
void session_send_notice(struct relay *r, struct session *s, struct reg_channel *ch,
			 struct cJSON *o);
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

#endif
