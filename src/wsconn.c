/* wsconn.c: the WebSocket side of a browser connection (see wsconn.h).
 *
 * Moved out of conn.c, which keeps HTTP: a connection whose head asks for
 * an upgrade comes here, and from then on its bytes and WRITEABLEs too. */
#include <stdlib.h>
#include <string.h>
#include "access.h"
#include "deflate.h"
#include "httpans.h"
#include "httpreq.h"
#include "query.h"
#include "session.h"
#include "wsconn.h"

/* 1 if every name and value of the query decodes and no name of the
 * arguments sessions read is given twice. */
static int
query_wellformed(const char *qs, size_t len)
{
	static const char *const names[] = { "since", "epoch", "channels", "access_token", "filter" };
	char buf[CONN_HEAD_MAX];
	struct query_item it;
	size_t pos = 0;

	while (query_next(qs, len, &pos, &it))
		if (query_decode(it.name, it.name_len, buf, sizeof(buf)) < 0 ||
		    (it.value && query_decode(it.value, it.value_len, buf, sizeof(buf)) < 0))
			return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (query_get(qs, len, names[i], buf, sizeof(buf)) == QUERY_BAD)
			return 0;
	return 1;
}

/* Writes one control frame now (lws keeps what the socket cannot take). */
static int
send_control(struct conn *c, unsigned op, const void *payload, size_t len)
{
	unsigned char buf[LWS_PRE + WSF_MAX_HEADER + 125];
	size_t n = wsf_build(buf + LWS_PRE, sizeof(buf) - LWS_PRE, op, payload, len, NULL);

	if (!n)
		return -1;
	return lws_write(c->wsi, buf + LWS_PRE, n, LWS_WRITE_RAW) < (int)n ? -1 : 0;
}

/* How many names ?channels= lists (0 if absent). A list longer than
 * clients.max_channels is refused before any work on its names: each one
 * past the cap would cost a notice, thousands of them per upgrade. */
static size_t
channels_in_query(const char *qs, size_t len)
{
	char buf[CONN_HEAD_MAX];
	long n = query_get(qs, len, "channels", buf, sizeof(buf));
	size_t count = 0;

	for (long i = 0; i < n; i++)
		if (buf[i] != ',' && (i == 0 || buf[i - 1] == ','))
			count++;
	return count;
}

int
wsconn_admit(struct conn *c, const struct httpreq *q, const char *path, int websocket,
	     struct access_verdict *v)
{
	struct relay *r = c->relay;
	int rc = 1;

	if (conn_check_access(c, q, websocket, path, v))
		return 1;
	if (r->n_sessions >= (uint64_t)r->cfg.max_connections) {
		r->limit_refusals++;
		rc = conn_refuse(c, HTTP_STATUS_SERVICE_UNAVAILABLE, "the relay is at clients.max_connections", 5);
	} else if (ipcount_get(&r->per_ip, c->peer) >= (uint32_t)r->cfg.max_per_ip) {
		r->limit_refusals++;
		rc = conn_refuse(c, 429, "too many connections from this address (clients.max_per_ip)", 5);
	} else if (q->query && !query_wellformed(q->query, q->query_len))
		rc = conn_refuse(c, HTTP_STATUS_BAD_REQUEST,
				 "malformed query string (a bad %-escape, %00, or a name given twice)", 0);
	else if (q->query && channels_in_query(q->query, q->query_len) > (size_t)r->cfg.max_channels)
		rc = conn_refuse(c, HTTP_STATUS_BAD_REQUEST,
				 "more names in ?channels= than clients.max_channels allows", 0);
	else
		return 0;
	return rc < 0 ? -1 : 1;
}

/* The connection is closing: its session leaves everything. */
static void
ws_gone(struct conn *c)
{
	session_closed(&c->s);
}

static const struct conn_stream ws_stream = { wsconn_rx, wsconn_writeable, ws_gone };

int
wsconn_upgrade(struct conn *c, const struct httpreq *q, const char *path, const char *rest,
	       size_t rest_len)
{
	struct relay *r = c->relay;
	struct http_answer a;
	struct access_verdict v;
	char accept[29], ext[DEFLATE_ANSWER_MAX];
	const char *why = NULL, *offers;
	size_t offers_len = 0;
	int st, z_bits = 15, deflate = 0;

	if (r->stopping)
		return conn_refuse(c, HTTP_STATUS_SERVICE_UNAVAILABLE, "relay is shutting down", 5);
	if (r->cfg.cluster_mode == CLUSTER_INGEST)
		return conn_refuse(c, HTTP_STATUS_SERVICE_UNAVAILABLE,
				   "this relay is a cluster ingest: browsers connect to an edge", 0);
	if (!session_path_known(r, path))
		return conn_refuse(c, HTTP_STATUS_NOT_FOUND, "no WebSocket endpoint at this path", 0);
	st = wsf_upgrade_check(q, accept, &why);
	if (st)
		return conn_refuse(c, (unsigned)st, st == 426 ? "only WebSocket version 13 is served" : why, 0);
	st = wsconn_admit(c, q, path, 1, &v);
	if (st)
		return st < 0 ? -1 : 0;
	offers = httpreq_header(q, "Sec-WebSocket-Extensions", &offers_len);
	if (r->cfg.compression_enabled && offers)
		deflate = deflate_negotiate(offers, offers_len, ext, &z_bits);

	httpans_init(&a, 101);
	httpans_header(&a, "Upgrade", "websocket");
	httpans_header(&a, "Connection", "Upgrade");
	httpans_header(&a, "Sec-WebSocket-Accept", accept);
	if (deflate)
		httpans_header(&a, "Sec-WebSocket-Extensions", ext);
	c->keep_alive = 0;
	{
		size_t len;
		unsigned char *b = httpans_build(&a, 0, LWS_PRE, &len);

		if (!b || lws_write(c->wsi, b + LWS_PRE, len, LWS_WRITE_RAW) < (int)len) {
			free(b);
			return -1;
		}
		free(b);
	}
	conn_pending_remove(c);
	c->state = CONN_STREAM;
	c->stream = &ws_stream;
	wsf_rx_init_server(&c->rx, (size_t)r->cfg.max_message);
	c->rx.allow_rsv1 = (uint8_t)deflate;
	if (session_established(&c->s, c->wsi, r, c->peer, path, q->query, q->query_len))
		return -1;
	if (deflate) {
		c->s.wire = SESSION_WIRE_WS_DEFLATE;
		c->s.z_bits = (uint8_t)z_bits;
	}
	if (rest_len)
		return wsconn_rx(c, rest, rest_len);
	return 0;
}

/* A compressed message (RSV1): inflated within clients.max_message, so a
 * few bytes that would inflate to gigabytes stop at max_message + 1 and
 * close with 1009. Returns 0, or -1 to close at once. */
static int
receive_compressed(struct conn *c, const struct wsf_ev *ev)
{
	struct session *s = &c->s;
	unsigned char *out;
	long n = deflate_inflate(ev->data, ev->len, c->rx.max_message, &out);
	int rc = 0;

	if (n == -2)
		session_close(s, WSF_CLOSE_TOO_BIG, "message too large once inflated");
	else if (n == -3)
		return -1;
	else if (n < 0)
		session_close(s, WSF_CLOSE_INVALID_DATA, "compressed message is not valid deflate data");
	else if (!ev->binary && !wsf_utf8_valid((const char *)out, (size_t)n))
		session_close(s, WSF_CLOSE_INVALID_DATA, "text message is not UTF-8");
	else
		rc = session_receive(s, (const char *)out, (size_t)n);
	free(out);
	return rc;
}

/* Frames from the client. Returns 0, or -1 to close at once. */
int
wsconn_rx(struct conn *c, const char *in, size_t len)
{
	struct session *s = &c->s;
	struct wsf_ev ev;

	while (len && !s->close_code) {
		size_t used = wsf_rx_next(&c->rx, in, len, &ev);

		in += used;
		len -= used;
		/* The parser skips a message over max_message to its end, and
		 * only then says so: one frame announcing 2^62 bytes would let
		 * a client stream junk at the relay for ever. It is over as
		 * soon as its length says so. */
		if (c->rx.discard && ev.type != WSF_ERROR) {
			session_close(s, WSF_CLOSE_TOO_BIG, "message too large");
			break;
		}
		switch (ev.type) {
		case WSF_NEED_MORE:
			break;
		case WSF_MESSAGE:
			if (ev.compressed) {
				if (receive_compressed(c, &ev))
					return -1;
				break;
			}
			if (!ev.binary && !wsf_utf8_valid(ev.data, ev.len)) {
				session_close(s, WSF_CLOSE_INVALID_DATA, "text message is not UTF-8");
				break;
			}
			if (session_receive(s, ev.data, ev.len))
				return -1;
			break;
		case WSF_OVERSIZE:
			session_close(s, WSF_CLOSE_TOO_BIG, "message too large");
			break;
		case WSF_PING:
			if (session_charge(s))
				break;	/* over its budget: closing */
			memcpy(c->pong, ev.data, ev.len);
			c->pong_len = (uint8_t)ev.len;
			c->pong_due = 1;
			lws_callback_on_writable(c->wsi);
			break;
		case WSF_PONG:
			session_charge(s);
			break;
		case WSF_CLOSE:
			/* echo the client's code (none if it sent none), then go.
			 * Through session_close: a client that closes and then never
			 * reads (so WRITEABLE never comes) is cut after its few
			 * seconds like any other, instead of holding the socket
			 * with nothing queued that could make it "too slow". */
			session_close(s, ev.code, "");
			return 0;
		case WSF_ERROR:
			session_close(s, ev.code, ev.error);
			return 0;
		}
	}
	return 0;
}

int
wsconn_writeable(struct conn *c)
{
	struct session *s = &c->s;

	if (c->close_sent)
		return 0;
	if (c->pong_due) {
		c->pong_due = 0;
		if (send_control(c, WSF_OP_PONG, c->pong, c->pong_len))
			return -1;
	}
	if (s->close_code) {
		uint8_t p[125];
		size_t n = 0;

		if (s->close_code != WSF_CLOSE_NO_STATUS) {
			size_t rl = strlen(s->close_reason);

			if (rl > sizeof(p) - 2)
				rl = sizeof(p) - 2;
			p[0] = (uint8_t)(s->close_code >> 8);
			p[1] = (uint8_t)s->close_code;
			memcpy(p + 2, s->close_reason, rl);
			n = 2 + rl;
		}
		outq_clear(&s->q);
		if (send_control(c, WSF_OP_CLOSE, p, n))
			return -1;
		c->close_sent = 1;
		session_closed(s);
		conn_drain(c);
		return 0;
	}
	return session_writeable(s);
}
