/* sse.c: Server-Sent Events streams (see sse.h).
 *
 * A stream is a struct session like a WebSocket's, with wire
 * SESSION_WIRE_SSE: fan-out, history replay, notices and the slow-consumer
 * bound are session.c's, and only the bytes differ (sseenc.c builds each
 * frame's event once and keeps it on the frame). The answer has no
 * Content-Length and Connection: close: the body runs until either side
 * closes. Bytes the client sends after its request are dropped. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include "access.h"
#include "httpans.h"
#include "httpreq.h"
#include "query.h"
#include "session.h"
#include "sse.h"
#include "sseenc.h"
#include "wsconn.h"

#define WS_PATH "/api/stream/ws"

int
sse_path(const char *path)
{
	size_t n = sizeof(SSE_PATH) - 1;

	return !strncmp(path, SSE_PATH, n) && (path[n] == '\0' || path[n] == '/');
}

/* The WebSocket path whose stream path serves: /api/stream/sse ->
 * /api/stream/ws; /api/stream/sse/X -> the endpoint at /api/stream/ws/X,
 * or else the endpoint whose id is X. NULL if none. */
static const char *
ws_path_of(const struct config *cfg, const char *path, char *buf, size_t cap)
{
	const char *x = path + sizeof(SSE_PATH) - 1;
	const struct config_endpoint *ep;

	if (!*x)
		return WS_PATH;
	x++;
	if (!*x || strchr(x, '/'))
		return NULL;
	snprintf(buf, cap, WS_PATH "/%s", x);
	ep = config_endpoint_by_path(cfg, buf, strlen(buf));
	if (ep)
		return ep->path;
	for (size_t i = 0; i < cfg->n_endpoints; i++)
		if (!strcmp(cfg->endpoints[i].id, x))
			return cfg->endpoints[i].path;
	return NULL;
}

/* Heartbeats: one ": hb" comment, built once, queued to every stream
 * every clients.sse_heartbeat seconds. They keep proxies from timing an
 * idle stream out and let a client tell a dead link from a quiet market.
 * The timer runs only while a stream is open. */
static void
heartbeat(lws_sorted_usec_list_t *sul)
{
	struct relay *r = lws_container_of(sul, struct relay, sul_sse_hb);
	struct frame *f;
	unsigned char *b;

	if (!r->n_sse)
		return;
	f = frame_new(0);
	b = malloc(FRAME_PRE + sizeof(SSEENC_HEARTBEAT));
	if (f && b) {
		memcpy(b + FRAME_PRE, SSEENC_HEARTBEAT, sizeof(SSEENC_HEARTBEAT));
		f->sse = b + FRAME_PRE;
		f->sse_len = sizeof(SSEENC_HEARTBEAT) - 1;
		b = NULL;
		session_batch_begin(r);
		for (struct session *s = r->sessions; s; s = s->next)
			if (s->wire == SESSION_WIRE_SSE && !s->close_code)
				session_push(s, f);
		session_batch_end(r);
	}
	free(b);
	frame_unref(f);
	lws_sul_schedule(r->ctx, 0, &r->sul_sse_hb, heartbeat,
			 (lws_usec_t)(r->cfg.sse_heartbeat * LWS_US_PER_SEC));
}

/* Last-Event-ID, when the browser sent one: the query to subscribe with
 * (into buf), resuming from it. Returns the query's length, 0 if there is
 * no header, -1 if it is malformed or does not fit. */
static long
resume_query(const struct httpreq *q, char *buf, size_t cap)
{
	size_t n;
	const char *v = httpreq_header(q, "Last-Event-ID", &n);
	char epoch[17];
	uint64_t seq;

	if (!v)
		return 0;
	if (sseenc_last_event_id(v, n, epoch, &seq))
		return -1;
	return sseenc_resume_query(q->query, q->query ? q->query_len : 0, epoch, seq, buf, cap);
}

/* A multi-channel stream cannot resume from one Last-Event-ID: the id is
 * one channel's epoch:seq, and the others' seqs are unrelated. Rather
 * than replay wrongly or skip silently, each channel says so. */
static void
ambiguous_resume(struct session *s)
{
	for (uint16_t i = 0; i < s->sub.n; i++) {
		struct reg_channel *ch = s->sub.m[i]->ch;
		cJSON *o = session_notice_new("gap", ch->name);

		cJSON_AddStringToObject(o, "reason", "resume_ambiguous");
		cJSON_AddStringToObject(o, "message",
					"Last-Event-ID names one channel's position: a stream of several channels "
					"resumes from ?since= per channel (one stream each), not from it");
		session_send_notice(s->relay, s, ch, o);
	}
}

/* A stream reads nothing after its request. */
static const struct conn_stream sse_stream = { NULL, sse_writeable, sse_gone };

int
sse_request(struct conn *c, const struct httpreq *q, const char *path)
{
	struct relay *r = c->relay;
	struct access_verdict v;
	struct http_answer a;
	char pbuf[256], *rq = NULL;
	const char *ws, *query = q->query;
	size_t qlen = q->query ? q->query_len : 0, len;
	unsigned char *head;
	long rl;
	int st, head_only = conn_method_is(q, "HEAD");

	if (!head_only && !conn_method_is(q, "GET"))
		return conn_refuse(c, HTTP_STATUS_METHOD_NOT_ALLOWED, "method not allowed", 0);
	if (r->stopping)
		return conn_refuse(c, HTTP_STATUS_SERVICE_UNAVAILABLE, "relay is shutting down", 5);
	if (r->cfg.cluster_mode == CLUSTER_INGEST)
		return conn_refuse(c, HTTP_STATUS_SERVICE_UNAVAILABLE,
				   "this relay is a cluster ingest: browsers connect to an edge", 0);
	ws = ws_path_of(&r->cfg, path, pbuf, sizeof(pbuf));
	if (!ws)
		return conn_refuse(c, HTTP_STATUS_NOT_FOUND, "no event stream at this path", 0);
	st = wsconn_admit(c, q, path, 0, &v);
	if (st)
		return st < 0 ? -1 : 0;
	rq = malloc(qlen + 64);
	if (!rq)
		return -1;
	rl = resume_query(q, rq, qlen + 64);
	if (rl < 0) {
		free(rq);
		return conn_refuse(c, HTTP_STATUS_BAD_REQUEST, "Last-Event-ID must be EPOCH:SEQ", 0);
	}
	if (rl > 0 && strcmp(ws, WS_PATH) == 0) {
		/* several channels: see ambiguous_resume; one: resume it */
		char list[CONN_HEAD_MAX];
		long n = query ? query_get(query, qlen, "channels", list, sizeof(list)) : QUERY_ABSENT;

		if (n > 0 && memchr(list, ',', (size_t)n))
			rl = -2;
	}
	if (rl > 0) {
		query = rq;
		qlen = (size_t)rl;
	}

	httpans_init(&a, 200);
	a.ctype = "text/event-stream";
	a.close = 1;
	a.stream = 1;
	/* nginx buffers answers unless told not to */
	httpans_header(&a, "X-Accel-Buffering", "no");
	conn_access_headers(&a, &v, 0);
	head = httpans_build(&a, head_only, LWS_PRE, &len);
	if (!head || lws_write(c->wsi, head + LWS_PRE, len, LWS_WRITE_RAW) < (int)len) {
		free(head);
		free(rq);
		return -1;
	}
	free(head);
	c->keep_alive = 0;
	conn_pending_remove(c);
	if (head_only) {
		free(rq);
		conn_drain(c);
		return 0;
	}
	c->state = CONN_STREAM;
	c->stream = &sse_stream;
	st = session_established(&c->s, c->wsi, r, c->peer, ws, query, qlen);
	free(rq);
	if (st)
		return -1;
	c->s.wire = SESSION_WIRE_SSE;
	if (rl == -2)
		ambiguous_resume(&c->s);
	if (!r->n_sse++)
		lws_sul_schedule(r->ctx, 0, &r->sul_sse_hb, heartbeat,
				 (lws_usec_t)(r->cfg.sse_heartbeat * LWS_US_PER_SEC));
	return 0;
}

void
sse_gone(struct conn *c)
{
	if (!c->s.is_ws)
		return;
	session_closed(&c->s);
	c->relay->n_sse--;
}

int
sse_writeable(struct conn *c)
{
	struct session *s = &c->s;

	if (c->close_sent)
		return 0;
	if (s->close_code) {
		/* a last event says why (4001 too slow, 1001 shutting down...);
		 * EventSource then reconnects by itself, with Last-Event-ID */
		cJSON *o = cJSON_CreateObject();
		char *txt;
		unsigned char *b = c->relay->scratch + LWS_PRE;
		int n;

		cJSON_AddNumberToObject(o, "code", s->close_code);
		cJSON_AddStringToObject(o, "reason", s->close_reason ? s->close_reason : "");
		txt = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		n = snprintf((char *)b, SCRATCH_BYTES, "event: close\ndata: %s\n\n", txt ? txt : "{}");
		free(txt);
		outq_clear(&s->q);
		if (n > 0 && n < SCRATCH_BYTES && lws_write(c->wsi, b, (size_t)n, LWS_WRITE_RAW) < n)
			return -1;
		c->close_sent = 1;
		sse_gone(c);
		conn_drain(c);
		return 0;
	}
	return session_writeable(s);
}
