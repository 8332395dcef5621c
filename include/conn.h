/* conn.h: one browser-port connection, from its first byte to its close.
 *
 * The relay speaks HTTP/1.1 and the server side of RFC 6455 itself on raw
 * lws connections (with lws doing only the event loop and TLS). lws 4.1.6's
 * own HTTP server could not answer an oversized head (it closed without a
 * word), wrote refusals during an upgrade as HTTP/1.0 (which strict
 * clients reject), matched query names by prefix, accepted unmasked client
 * frames and answered pings without telling the relay. Here:
 * - a request head is read up to CONN_HEAD_MAX bytes within
 *   clients.request_timeout and parsed by httpreq.c; whatever is wrong gets
 *   an HTTP/1.1 status with a JSON body (431 for an oversized head, 400,
 *   501, 505), then the connection is closed gracefully;
 * - an upgrade is checked (path, handshake, access, limits) and answered
 *   101 by us; frames are parsed by wsframe.c in server mode (unmasked
 *   frames close with 1002, text that is not UTF-8 with 1007), and every
 *   message, ping and pong from the client counts against its budget;
 * - an upgrade goes to wsconn.c, a GET on /api/stream/sse to sse.c, which
 *   take the connection over (through conn_routes and conn_stream: they
 *   sit above this file, which knows them only by these two tables);
 * - other requests go to http_api.c, with keep-alive.
 * A connection that has not finished a request is "pending": on a list,
 * oldest first, counted per address, so listener.c can cap them. */
#ifndef UWRELAY_CONN_H
#define UWRELAY_CONN_H

#include <libwebsockets.h>
#include <stdint.h>
#include "ipcount.h"
#include "relay_state.h"
#include "session.h"
#include "wsframe.h"

struct history_job;

/* Largest request head (request line + headers) accepted: 431 beyond. */
#define CONN_HEAD_MAX 8192

enum conn_state {
	CONN_HEAD = 0,		/* reading a request head */
	CONN_ANSWER,		/* writing an HTTP answer */
	CONN_STREAM,		/* taken over by a stream module (c->stream) */
	CONN_DRAIN,		/* done: our side is shut, waiting for the peer's FIN */
};

struct conn;
struct httpreq;

/* A stream module's side of a connection it took over (wsconn.c: a
 * WebSocket; sse.c: a Server-Sent Events stream): conn.c hands it the
 * connection's later events. */
struct conn_stream {
	/* Bytes from the client; NULL: dropped (the stream reads nothing
	 * more). Returns 0, or -1 to close at once. */
	int (*rx)(struct conn *c, const char *in, size_t len);
	/* WRITEABLE. Returns 0, or -1 to close at once. */
	int (*writeable)(struct conn *c);
	/* The connection is closing: the stream lets go of it. */
	void (*gone)(struct conn *c);
};

/* Who takes requests over from conn.c: the stream modules above it. The
 * "uwrelay-http" protocol carries it as its user pointer (relay.c). */
struct conn_routes {
	/* An upgrade request for path; rest holds bytes after the head.
	 * Returns 0, or -1 to close at once. */
	int (*upgrade)(struct conn *c, const struct httpreq *q, const char *path, const char *rest,
		       size_t rest_len);
	/* 1 if a GET on path asks for an event stream (then stream() serves it). */
	int (*is_stream)(const char *path);
	/* Serves an event stream request. Returns 0, or -1 to close at once. */
	int (*stream)(struct conn *c, const struct httpreq *q, const char *path);
};

struct conn {
	struct lws *wsi;
	struct relay *relay;
	const struct conn_stream *stream;	/* CONN_STREAM: who has the connection */
	uint8_t state;			/* enum conn_state */
	uint8_t pending;		/* on the relay's pending list */
	uint8_t keep_alive;		/* after this answer, read the next request */
	uint8_t out_done;		/* the whole answer was handed to lws */
	uint8_t close_sent;		/* WebSocket: our close frame went out */
	uint8_t pong_due, pong_len;
	uint8_t pong[125];
	struct conn *pprev, *pnext;	/* pending list, oldest first */
	uint64_t pend_deadline_ms;	/* while pending: closed at this time (clock_mono_ms) */
	char peer[IPCOUNT_ADDR_MAX];
	char *in;			/* head bytes so far, or bytes after a head */
	size_t in_len;
	unsigned char *out;		/* answer being written: LWS_PRE + bytes */
	size_t out_len, out_sent;
	struct wsf_rx rx;		/* WebSocket frames from the client */
	struct history_job *hist_job;	/* a history answer the tape still owes */
	struct access_verdict *hist_v;	/* its CORS headers, kept until then */
	uint8_t hist_head;		/* it was a HEAD request */
	struct session s;		/* the WebSocket session once upgraded */
};

/* The lws callback of the "uwrelay-http" protocol. */
int conn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		  size_t len);
/* Closes the oldest pending connection, at once (its descriptor is free
 * when this returns). Returns 1, or 0 if none is pending. */
int conn_evict_oldest(struct relay *r);

/* For the stream modules (wsconn.c, sse.c), which take a connection over
 * once its request head is read. */
struct http_answer;
struct access_verdict;
/* Refuses the request with status and a JSON reason, then closes. Returns
 * 0, or -1 to close at once. */
int conn_refuse(struct conn *c, unsigned status, const char *why, unsigned retry_after);
/* Decides who may make this request (access.c) and fills v. Returns 0, or
 * the status it was refused with (the answer is on its way). */
int conn_check_access(struct conn *c, const struct httpreq *q, int websocket, const char *path,
		      struct access_verdict *v);
/* The verdict's CORS and Set-Cookie headers on an answer; a preflight's own
 * headers when preflight. */
void conn_access_headers(struct http_answer *a, const struct access_verdict *v, int preflight);
/* 1 if the request's method is m. */
int conn_method_is(const struct httpreq *q, const char *m);
/* Takes c off the pending list (its request is complete). */
void conn_pending_remove(struct conn *c);
/* Our side is done: shut it and wait briefly for the client's end. */
void conn_drain(struct conn *c);

#endif
