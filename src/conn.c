/* conn.c: one browser-port connection (see conn.h).
 *
 * lws hands every accepted socket here as a raw connection: RAW_RX gives
 * the bytes (decrypted when the listener has TLS), lws_write(LWS_WRITE_RAW)
 * sends them, and a short write is kept by lws until the socket drains.
 * The connection reads a request head, answers it (or upgrades it), and
 * either reads the next request (keep-alive) or shuts its side down and
 * waits briefly for the client's FIN, so an answer is never cut by a reset
 * (closing with unread bytes would send RST and could destroy it). */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <sys/socket.h>
#include "access.h"
#include "clock.h"
#include "conn.h"
#include "history_api.h"
#include "http_api.h"
#include "httpans.h"
#include "httpreq.h"
#include "query.h"
#include "session.h"

/* After an answer with Connection: close, or a close frame, how long the
 * client has to close its side before we cut it. */
#define DRAIN_S 2
/* Bytes of an answer handed to lws per write. */
#define OUT_CHUNK 16384
/* Bytes of answers all connections together may hold built but not yet
 * handed to lws. A client that does not read keeps its answer for up to
 * request_timeout: unbounded, a hundred slow readers of a 4 MiB file held
 * 400 MiB. Past this, a big answer is refused with 503 (one that fits a
 * single write is handed to lws at once and never held). */
#define ANSWERS_HELD_MAX (64u << 20)

static void pending_expire(lws_sorted_usec_list_t *sul);

static struct relay *
relay_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

/* ---- the pending list: connections without a finished request ---- */

static void
pending_add(struct conn *c)
{
	struct relay *r = c->relay;

	if (c->pending)
		return;
	c->pending = 1;
	c->pnext = NULL;
	c->pprev = r->pend_tail;
	if (r->pend_tail)
		r->pend_tail->pnext = c;
	else
		r->pend_head = c;
	r->pend_tail = c;
	r->n_pending++;
	ipcount_inc(&r->pending_ip, c->peer);
	/* a request must be complete within request_timeout, and an idle
	 * keep-alive connection goes after the same time. Not an lws timeout
	 * per connection: lws keeps those in one sorted list and inserts by
	 * walking it from the head, so a storm of n connections cost O(n^2).
	 * The pending list is oldest first, so it is in deadline order too:
	 * one timer for its head is enough. */
	c->pend_deadline_ms = clock_mono_ms() + (uint64_t)r->cfg.request_timeout * 1000;
	/* an answer's own timeout ends with it (removal is O(1)) */
	lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
	if (r->pend_head == c)
		lws_sul_schedule(r->ctx, 0, &r->sul_pending, pending_expire,
				 (lws_usec_t)r->cfg.request_timeout * LWS_US_PER_SEC);
}

void
conn_pending_remove(struct conn *c)
{
	struct relay *r = c->relay;

	if (!c->pending)
		return;
	c->pending = 0;
	if (c->pprev)
		c->pprev->pnext = c->pnext;
	else
		r->pend_head = c->pnext;
	if (c->pnext)
		c->pnext->pprev = c->pprev;
	else
		r->pend_tail = c->pprev;
	c->pprev = c->pnext = NULL;
	r->n_pending--;
	ipcount_dec(&r->pending_ip, c->peer);
	lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
	if (!r->pend_head)
		lws_sul_cancel(&r->sul_pending);
}

/* The head's deadline passed: close every pending connection whose time
 * is up (the oldest first), then wait for the next. After a reload that
 * shortened request_timeout, a newer connection may wait behind an older
 * one, for at most the old timeout. */
static void
pending_expire(lws_sorted_usec_list_t *sul)
{
	struct relay *r = lws_container_of(sul, struct relay, sul_pending);
	uint64_t now = clock_mono_ms();

	while (r->pend_head && r->pend_head->pend_deadline_ms <= now)
		conn_evict_oldest(r);
	if (r->pend_head)
		lws_sul_schedule(r->ctx, 0, &r->sul_pending, pending_expire,
				 (lws_usec_t)(r->pend_head->pend_deadline_ms - now) * 1000);
}

int
conn_evict_oldest(struct relay *r)
{
	struct conn *c = r->pend_head;

	if (!c)
		return 0;
	conn_pending_remove(c);
	/* closes now: RAW_CLOSE runs before this returns */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
	return 1;
}

/* ---- writing ---- */

static void
out_release(struct conn *c)
{
	if (!c->out)
		return;
	free(c->out);
	c->out = NULL;
	c->relay->answers_held -= c->out_len;
}

/* Hands the answer to lws, a chunk at a time. Returns 0 or -1. */
static int
out_write(struct conn *c)
{
	while (c->out && c->out_sent < c->out_len) {
		size_t n = c->out_len - c->out_sent;

		if (n > OUT_CHUNK)
			n = OUT_CHUNK;
		/* lws needs LWS_PRE bytes before the data: the bytes already
		 * sent are ours to overwrite */
		if (lws_write(c->wsi, c->out + LWS_PRE + c->out_sent, n, LWS_WRITE_RAW) < (int)n)
			return -1;
		c->out_sent += n;
		if (c->out_sent < c->out_len && lws_send_pipe_choked(c->wsi)) {
			lws_callback_on_writable(c->wsi);
			return 0;
		}
	}
	if (c->out && c->out_sent == c->out_len) {
		out_release(c);
		c->out_done = 1;
		/* what lws still holds of a short write goes before what we do
		 * next (shut down, or read the next request) */
		lws_callback_on_writable(c->wsi);
	}
	return 0;
}

/* Our side is done. On plain TCP: shut our side, read and drop what the
 * client still sends until its FIN (closing with unread bytes would send
 * a reset that can destroy the answer), cut it after DRAIN_S. Under TLS
 * a bare FIN would read as a truncation: the connection waits for the
 * client's next bytes (its close frame) or end, then lws closes it with
 * a TLS close_notify. */
void
conn_drain(struct conn *c)
{
	c->state = CONN_DRAIN;
	conn_pending_remove(c);
	if (!lws_is_ssl(c->wsi))
		shutdown(lws_get_socket_fd(c->wsi), SHUT_WR);
	/* while stopping, the context goes within the grace period anyway;
	 * an lws timeout per connection would cost O(n) each (see above) */
	if (!c->relay->stopping)
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, DRAIN_S);
}


/* Sends an answer; head_only for HEAD. Takes what a owns. */
static int
answer(struct conn *c, struct http_answer *a, int head_only)
{
	struct relay *r = c->relay;
	size_t len;

	if (!c->keep_alive || a->status >= 400)
		a->close = 1;
	c->keep_alive = !a->close;
	c->out = httpans_build(a, head_only, LWS_PRE, &len);
	httpans_free(a);
	if (!c->out)
		return -1;
	if (len > OUT_CHUNK && r->answers_held && r->answers_held + len > ANSWERS_HELD_MAX) {
		free(c->out);
		c->out = NULL;
		r->limit_refusals++;
		log_limited(&r->rl_refusals, clock_mono_ms(), LOG_INFO,
			    "relay: refused an answer of %zu bytes: %llu bytes of answers are waiting "
			    "for their readers", len, (unsigned long long)r->answers_held);
		return conn_refuse(c, HTTP_STATUS_SERVICE_UNAVAILABLE,
			      "too many large answers waiting for slow readers: try again", 1);
	}
	r->answers_held += len;
	c->out_len = len;
	c->out_sent = 0;
	c->out_done = 0;
	c->state = CONN_ANSWER;
	/* a client that never reads its answer does not keep it forever; a
	 * slow one gets request_timeout plus a second per 64 KiB */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_CONTENT,
			(int)c->relay->cfg.request_timeout + (int)(len >> 16));
	return out_write(c);
}

int
conn_refuse(struct conn *c, unsigned status, const char *why, unsigned retry_after)
{
	struct http_answer a;

	httpans_init(&a, status);
	if (httpans_error(&a, status, why))
		return -1;
	a.retry_after = retry_after;
	a.close = 1;
	if (status == 426)
		httpans_header(&a, "Sec-WebSocket-Version", "13");
	if (status == 405)
		httpans_header(&a, "Allow", "GET, HEAD, OPTIONS");
	return answer(c, &a, 0);
}

/* ---- access ---- */

/* The presented token: ?access_token= (exact name, decoded), else an
 * Authorization: Bearer header. Returns its length, 0 if none, -1 if the
 * query is malformed. */
static long
presented_token(const struct httpreq *q, char *buf, size_t cap)
{
	size_t vl;
	const char *v;
	long n = q->query ? query_get(q->query, q->query_len, "access_token", buf, cap) : QUERY_ABSENT;

	if (n >= 0)
		return n;
	if (n != QUERY_ABSENT)
		return -1;
	v = httpreq_header(q, "Authorization", &vl);
	if (v && vl > 7 && !strncasecmp(v, "Bearer ", 7)) {
		v += 7;
		vl -= 7;
		while (vl && *v == ' ') {
			v++;
			vl--;
		}
		if (vl >= cap)
			return -1;
		memcpy(buf, v, vl);
		buf[vl] = '\0';
		return (long)vl;
	}
	return 0;
}

int
conn_method_is(const struct httpreq *q, const char *m)
{
	size_t n = strlen(m);

	return q->method_len == n && !memcmp(q->method, m, n);
}

/* A CORS preflight: OPTIONS asking which method it may use. */
static int
is_preflight(const struct httpreq *q)
{
	return conn_method_is(q, "OPTIONS") && httpreq_header(q, "Access-Control-Request-Method", NULL);
}

void
conn_access_headers(struct http_answer *a, const struct access_verdict *v, int preflight)
{
	if (v->allow_origin) {
		httpans_header(a, "Access-Control-Allow-Origin", v->allow_origin);
		httpans_header(a, "Vary", "Origin");
		if (preflight) {
			httpans_header(a, "Access-Control-Allow-Methods", "GET, OPTIONS");
			httpans_header(a, "Access-Control-Allow-Headers", "Authorization");
			httpans_header(a, "Access-Control-Max-Age", "600");
		}
	}
	if (v->set_cookie[0])
		httpans_header(a, "Set-Cookie", v->set_cookie);
}

int
conn_check_access(struct conn *c, const struct httpreq *q, int websocket, const char *path,
	     struct access_verdict *v)
{
	struct relay *r = c->relay;
	struct access_req ar;
	struct http_answer a;
	char tok[400], method[16];
	long tl = presented_token(q, tok, sizeof(tok));
	int st;

	memset(&ar, 0, sizeof(ar));
	memset(v, 0, sizeof(*v));
	snprintf(method, sizeof(method), "%.*s", (int)q->method_len, q->method);
	ar.method = method;
	ar.path = path;
	ar.host = httpreq_header(q, "Host", &ar.host_len);
	ar.origin = httpreq_header(q, "Origin", &ar.origin_len);
	ar.cookie = httpreq_header(q, "Cookie", &ar.cookie_len);
	ar.token = tl > 0 ? tok : NULL;
	ar.token_len = tl > 0 ? (size_t)tl : 0;
	ar.websocket = websocket;
	ar.preflight = is_preflight(q);
	if (tl < 0) {
		st = HTTP_STATUS_BAD_REQUEST;
		v->status = st;
		v->why = "malformed query string or access token";
	} else
		st = access_decide(&r->access, &ar, v);
	OPENSSL_cleanse(tok, sizeof(tok));
	if (!st)
		return 0;
	if (st == HTTP_STATUS_UNAUTHORIZED)
		r->auth_failures++;
	else if (st == HTTP_STATUS_FORBIDDEN)
		r->origin_refusals++;
	else if (st == 421)
		r->host_refusals++;
	log_limited(&r->rl_refusals, clock_mono_ms(), LOG_INFO, "relay: refused a %s (%d): %s",
		    websocket ? "WebSocket upgrade" : "request", st, v->why);
	httpans_init(&a, (unsigned)st);
	if (httpans_error(&a, (unsigned)st, v->why))
		return st;
	a.close = 1;
	conn_access_headers(&a, v, 0);
	answer(c, &a, 0);
	return st;
}

/* ---- requests ---- */

/* The tape's part of a history answer is back (on the loop). */
static void
history_done(void *arg, struct http_answer *a)
{
	struct conn *c = arg;

	c->hist_job = NULL;
	conn_access_headers(a, c->hist_v, 0);
	free(c->hist_v);
	c->hist_v = NULL;
	if (answer(c, a, c->hist_head))
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* GET /api/stream/history: answered now, or once the tape has read. */
static int
history_request(struct conn *c, const struct httpreq *q, const struct access_verdict *v, int head)
{
	struct http_answer a;
	size_t al = 0;
	const char *acc = httpreq_header(q, "Accept", &al);
	int rc = history_api_request(c->relay, q->query, q->query_len,
				     acc && memmem(acc, al, "application/x-ndjson", 20) != NULL, &a,
				     &c->hist_job, history_done, c);

	if (rc < 0)
		return conn_refuse(c, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory", 0);
	if (rc == 0) {
		conn_access_headers(&a, v, 0);
		return answer(c, &a, head);
	}
	c->hist_v = malloc(sizeof(*v));
	if (!c->hist_v) {
		history_api_cancel(c->hist_job);
		c->hist_job = NULL;
		return conn_refuse(c, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory", 0);
	}
	*c->hist_v = *v;
	if (v->allow_origin == v->origin_buf)
		c->hist_v->allow_origin = c->hist_v->origin_buf;
	c->hist_head = (uint8_t)head;
	c->state = CONN_ANSWER;
	c->out_done = 0;
	/* the tape answers within its own timeouts; this bounds the wait */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, 60);
	return 0;
}

static int
http_request(struct conn *c, const struct httpreq *q, const char *path)
{
	struct relay *r = c->relay;
	struct access_verdict v;
	struct http_answer a;
	int head = conn_method_is(q, "HEAD"), options = conn_method_is(q, "OPTIONS");

	if (!options && !head && !conn_method_is(q, "GET"))
		return conn_refuse(c, HTTP_STATUS_METHOD_NOT_ALLOWED, "method not allowed", 0);
	if (conn_check_access(c, q, 0, path, &v))
		return 0;
	if (options) {
		/* a CORS preflight access.c allowed; any other OPTIONS is not served */
		if (!is_preflight(q))
			return conn_refuse(c, HTTP_STATUS_METHOD_NOT_ALLOWED, "method not allowed", 0);
		httpans_init(&a, HTTP_STATUS_NO_CONTENT);
		conn_access_headers(&a, &v, 1);
		return answer(c, &a, 0);
	}
	if (!strcmp(path, HISTORY_API_PATH))
		return history_request(c, q, &v, head);
	if (http_api_answer(r, path, &a))
		return conn_refuse(c, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory", 0);
	conn_access_headers(&a, &v, 0);
	return answer(c, &a, head);
}

/* Keeps bytes for later (the rest of a head, or pipelined requests).
 * Returns 0, or -1 out of memory. */
static int
in_append(struct conn *c, const char *in, size_t len)
{
	char *nb = realloc(c->in, c->in_len + len);

	if (!nb)
		return -1;
	memcpy(nb + c->in_len, in, len);
	c->in = nb;
	c->in_len += len;
	return 0;
}

/* A complete head: answer it. rest holds the bytes after it. */
static int
dispatch(struct conn *c, const struct httpreq *q, const char *rest, size_t rest_len)
{
	const struct conn_routes *routes = lws_get_protocol(c->wsi)->user;
	char path[256];

	c->keep_alive = (uint8_t)q->keep_alive;
	if (q->content_length > 0)
		return conn_refuse(c, 413, "request bodies are not accepted", 0);
	if (q->path_len >= sizeof(path))
		return conn_refuse(c, HTTP_STATUS_NOT_FOUND, "not found", 0);
	memcpy(path, q->path, q->path_len);
	path[q->path_len] = '\0';
	conn_pending_remove(c);
	if (q->upgrade_websocket || httpreq_header(q, "Sec-WebSocket-Key", NULL))
		return routes->upgrade(c, q, path, rest, rest_len);
	if (routes->is_stream(path) && !conn_method_is(q, "OPTIONS"))
		return routes->stream(c, q, path);
	/* pipelined bytes wait until this answer is written (head_rx has
	 * taken c->in: it is empty here) */
	if (rest_len && in_append(c, rest, rest_len))
		return -1;
	return http_request(c, q, path);
}

/* 0 if an incomplete head can already not be HTTP (TLS or SSH on the
 * port, binary junk): it is refused at once instead of after
 * request_timeout. Checks the request line so far: a method of letters,
 * no control bytes, and once the line is whole, two spaces in it. */
static int
may_be_http(const char *b, size_t n)
{
	size_t i = 0, m, spaces = 0;

	/* empty lines before the request line are skipped, as httpreq.c
	 * does: refusing them only when they come in a read of their own
	 * made the answer depend on how the head was cut */
	while (i < n && (b[i] == '\r' || b[i] == '\n'))
		i++;
	m = i;
	while (i < n && i - m < 32 && b[i] >= 'A' && b[i] <= 'Z')
		i++;
	if (i < n && (i == m || i - m == 32 || b[i] != ' '))
		return 0;
	for (; i < n && b[i] != '\n'; i++) {
		if ((unsigned char)b[i] < 0x20 && b[i] != '\r')
			return 0;
		if ((unsigned char)b[i] == 0x7f)
			return 0;
		spaces += b[i] == ' ';
	}
	return i == n || spaces >= 2;
}

/* Bytes of a request head. Parses straight from `in` when the head is
 * whole in it (the common case), else collects up to CONN_HEAD_MAX. */
static int
head_rx(struct conn *c, const char *in, size_t len)
{
	struct httpreq q;
	const char *buf = in;
	size_t blen = len;
	long n;

	if (c->in_len) {
		if (in_append(c, in, len))
			return -1;
		buf = c->in;
		blen = c->in_len;
	}
	n = httpreq_parse(buf, blen, CONN_HEAD_MAX, &q);
	if (n == 0 && !may_be_http(buf, blen))
		n = -400;
	if (n == 0)	/* keep what came until the head is whole */
		return c->in_len ? 0 : in_append(c, in, len);
	if (n < 0) {
		unsigned st = (unsigned)-n;

		c->relay->bad_requests++;
		conn_pending_remove(c);
		return conn_refuse(c, st, st == 431 ? "request head too large" :
				     st == 501 ? "request bodies with Transfer-Encoding are not accepted" :
				     st == 505 ? "only HTTP/1.0 and HTTP/1.1 are served" :
						 "malformed request", 0);
	}
	/* the parsed spans point into buf: keep it until the answer is built */
	{
		char *held = c->in;
		int rc;

		c->in = NULL;
		c->in_len = 0;
		rc = dispatch(c, &q, buf + n, blen - (size_t)n);
		free(held);
		return rc;
	}
}

/* The answer is out: read the next request, or close. */
static int
answer_done(struct conn *c)
{
	if (!c->keep_alive) {
		if (lws_is_ssl(c->wsi))
			return -1;	/* flushed: lws closes with close_notify */
		conn_drain(c);
		return 0;
	}
	c->state = CONN_HEAD;
	c->out_done = 0;
	pending_add(c);
	if (c->in_len) {
		char *b = c->in;
		size_t n = c->in_len;
		int rc;

		c->in = NULL;
		c->in_len = 0;
		rc = head_rx(c, b, n);
		free(b);
		return rc;
	}
	return 0;
}

static void
conn_gone(struct conn *c)
{
	conn_pending_remove(c);
	if (c->state == CONN_STREAM)
		c->stream->gone(c);
	wsf_rx_free(&c->rx);
	history_api_cancel(c->hist_job);
	c->hist_job = NULL;
	free(c->hist_v);
	c->hist_v = NULL;
	free(c->in);
	c->in = NULL;
	out_release(c);
	c->relay->n_conns--;
}

int
conn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct conn *c = user;

	switch (reason) {
	case LWS_CALLBACK_RAW_ADOPT:
		memset(c, 0, sizeof(*c));
		c->wsi = wsi;
		c->relay = relay_of(wsi);
		c->relay->n_conns++;
		lws_get_peer_simple(wsi, c->peer, sizeof(c->peer));
		pending_add(c);
		return 0;
	case LWS_CALLBACK_RAW_RX:
		if (!c->relay || !len)
			return 0;
		switch (c->state) {
		case CONN_HEAD:
			return head_rx(c, in, len);
		case CONN_STREAM:
			return c->stream->rx ? c->stream->rx(c, in, len) : 0;
		case CONN_ANSWER:
			/* an answer that closes the connection reads nothing
			 * more: what comes (a refused request's body) is
			 * dropped as while draining. Kept, it passed the bound
			 * below and the close with unread bytes sent a reset
			 * that could destroy the answer. */
			if (!c->keep_alive)
				return 0;
			/* pipelined: kept for after the answer, within bounds */
			if (c->in_len + len > CONN_HEAD_MAX)
				return -1;
			return in_append(c, in, len);
		default:
			/* draining: dropped; under TLS the client's answer to our
			 * close (or any byte) ends it */
			return lws_is_ssl(wsi) ? -1 : 0;
		}
	case LWS_CALLBACK_RAW_WRITEABLE:
		if (!c->relay)
			return 0;
		if (c->state == CONN_ANSWER) {
			if (c->out)
				return out_write(c);
			if (c->out_done)
				return answer_done(c);
			return 0;
		}
		if (c->state == CONN_STREAM)
			return c->stream->writeable(c);
		return 0;
	case LWS_CALLBACK_RAW_CLOSE:
		if (c->relay)
			conn_gone(c);
		c->relay = NULL;
		return 0;
	default:
		return 0;
	}
}
