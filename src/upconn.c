/* upconn.c: the transport of the UW link (see upconn.h).
 *
 * The connection is a raw lws client (method "RAW") and both TLS and the
 * WebSocket protocol are ours: lws 4.1.6 parses a client's frames one byte
 * per call, which capped ingest at ~110k frames/s of 1 KB, and cannot
 * start TLS on a raw client (uptls.h). We send the upgrade request, check
 * the 101 and its Sec-WebSocket-Accept, then parse UW's frames in place
 * from whole reads and mask what we send. What lws no longer does for this
 * connection: permessage-deflate (never offered; UW does not need it),
 * following redirects (a 3xx is reported as a failed handshake) and
 * proxies (never configured).
 *
 * Errors are written, masked, into the owner's buffer and logged here
 * once, at the place that knows what failed; the owner only learns that
 * the connection ended (ops->lost). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "log.h"
#include "upconn.h"
#include "urlenc.h"
#include "version.h"

/* lws' validity pings are turned off: the owner runs its own health timer,
 * because only silence should lead to a ping and only a missing pong to a
 * reconnect. */
static const lws_retry_bo_t no_validity = {
	.secs_since_valid_ping = 0,
	.secs_since_valid_hangup = 0,
};

enum {
	UPHS_NONE = 0,	/* no connection yet */
	UPHS_TLS,	/* TCP up, TLS handshake in progress (wss://) */
	UPHS_SEND,	/* connected: the upgrade request is due */
	UPHS_WAIT,	/* request sent: reading the answer's head */
	UPHS_BODY,	/* refused: reading the body (UW's reason for a 401) */
	UPHS_DONE,	/* 101 checked: WebSocket frames */
};

/* An answer head longer than this is refused; a refusal's body is read up
 * to BODY_MAX bytes. */
#define HS_HEAD_MAX 16384
#define HS_BODY_MAX 255
/* From TCP connect to a checked 101 (lws' own default for its handshakes). */
#define HS_TIMEOUT_S 20
/* After we send a close, how long to wait for UW's before hanging up. */
#define CLOSE_WAIT_S 1
/* Plaintext decrypted before it is parsed: big enough that most frames
 * are whole in it (parsed in place), as for a plain read. */
#define PLAIN_CAP 65536

/* Records why this attempt failed and logs it once. */
void
upconn_init(struct upconn *c, const struct upconn_ops *ops, void *owner, char *err, size_t err_len)
{
	memset(c, 0, sizeof(*c));
	c->ops = ops;
	c->owner = owner;
	c->err = err;
	c->err_len = err_len;
}

static void
wipe_path(struct upconn *c)
{
	if (c->path) {
		memset(c->path, 0, strlen(c->path));
		free(c->path);
		c->path = NULL;
	}
}

int
upconn_target(struct upconn *c, const char *url, const char *token, const char *ca_file,
	      char *why, size_t whylen)
{
	char *enc;
	size_t n;

	why[0] = '\0';
	wipe_path(c);
	if (config_parse_url(url, &c->url)) {
		snprintf(why, whylen, "upstream url is invalid");
		return -1;
	}
	snprintf(c->url_masked, sizeof(c->url_masked), "%s://%s:%d%s?token=***",
		 c->url.tls ? "wss" : "ws", c->url.host, c->url.port, c->url.path);
	if (!token)
		return -1;
	if (c->url.tls && !c->tls_ctx && !(c->tls_ctx = uptls_ctx_new(ca_file, why, whylen)))
		return -1;
	enc = urlenc(token);
	if (!enc) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	n = strlen(c->url.path) + strlen(enc) + 8;
	c->path = malloc(n);
	if (c->path)
		snprintf(c->path, n, "%s?token=%s", c->url.path, enc);
	memset(enc, 0, strlen(enc));
	free(enc);
	if (!c->path) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if (!c->url.tls)
		log_msg(LOG_WARN, "upstream: %s is plain ws://: the token crosses the network unencrypted "
			"(fine for a local simulator, never for UW)", c->url_masked);
	return 0;
}

/* A raw TCP connection to the numeric address. lws sends nothing on it:
 * TLS (uptls.c, with the host name for SNI and the certificate check) and
 * the upgrade request (send_upgrade) are ours. */
int
upconn_connect(struct upconn *c, struct lws_context *ctx, struct lws_vhost *vh,
	       const char *address, size_t max_frame)
{
	struct lws_client_connect_info i;

	c->hs_state = UPHS_NONE;
	c->hs_len = 0;
	c->hs_head_len = 0;
	c->failed = 0;
	c->closing = 0;
	c->killed = 0;
	c->close_due = 0;
	c->pong_due = 0;
	wsf_rx_free(&c->wsrx);
	wsf_rx_init(&c->wsrx, max_frame);
	memset(&i, 0, sizeof(i));
	i.context = ctx;
	i.vhost = vh;
	i.address = address;
	i.port = c->url.port;
	i.path = "/";			/* unused by a raw connection: never the token */
	i.host = c->url.host;
	i.method = "RAW";
	i.ssl_connection = 0;		/* wss:// is done by uptls.c over the raw bytes */
	i.local_protocol_name = "uw-upstream";
	i.retry_and_idle_policy = &no_validity;
	i.pwsi = &c->wsi;
	i.opaque_user_data = c;
	if (!lws_client_connect_via_info(&i)) {
		c->wsi = NULL;
		log_fail(c->err, c->err_len, "upstream", "connect to %s failed to start", c->url.host);
		return -1;
	}
	return 0;
}

void
upconn_want_write(struct upconn *c)
{
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
}

int
upconn_choked(struct upconn *c)
{
	return c->wsi && lws_send_pipe_choked(c->wsi);
}

void
upconn_ping(struct upconn *c)
{
	c->ping_due = 1;
	upconn_want_write(c);
}

void
upconn_kill(struct upconn *c)
{
	if (c->wsi) {
		c->killed = 1;
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	}
}

void
upconn_close(struct upconn *c, uint16_t code)
{
	if (!c->wsi)
		return;
	if (c->hs_state == UPHS_DONE && !c->closing) {
		c->close_due = code;
		lws_callback_on_writable(c->wsi);
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, CLOSE_WAIT_S);
	} else
		upconn_kill(c);
}

/* Frees what one connection used (the TLS context stays). */
static void
conn_reset(struct upconn *c)
{
	c->hs_state = UPHS_NONE;
	c->killed = 0;
	free(c->hs_buf);
	c->hs_buf = NULL;
	c->hs_len = 0;
	wsf_rx_free(&c->wsrx);
	uptls_free(&c->tls);
}

void
upconn_free(struct upconn *c)
{
	conn_reset(c);
	uptls_ctx_free(c->tls_ctx);
	c->tls_ctx = NULL;
	free(c->plain);
	c->plain = NULL;
	wipe_path(c);
}

/* The connection is gone: why (if not NULL and not empty) replaces the error. */
static void
conn_lost(struct upconn *c, const char *why)
{
	c->wsi = NULL;
	conn_reset(c);
	if (why && *why)
		log_mask(c->err, c->err_len, why);
	c->ops->lost(c->owner);
}

/* ---- writing: the upgrade request, then masked frames ---- */

/* Sends what TLS has ready. Returns 0, or -1 if lws could not take it. */
static int
tls_flush(struct upconn *c, struct lws *wsi)
{
	unsigned char buf[LWS_PRE + 16384];
	size_t n;

	while ((n = uptls_take(&c->tls, buf + LWS_PRE, sizeof(buf) - LWS_PRE)))
		if (lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_RAW) < (int)n)
			return -1;
	return 0;
}

/* Sends p[0..n), which has LWS_PRE bytes of headroom, through TLS if
 * there is TLS. Returns 0 or -1. */
static int
net_send(struct upconn *c, struct lws *wsi, unsigned char *p, size_t n)
{
	if (!c->tls.ssl)
		return lws_write(wsi, p, n, LWS_WRITE_RAW) < (int)n ? -1 : 0;
	if (uptls_write(&c->tls, p, n))
		return -1;
	return tls_flush(c, wsi);
}

/* Writes one masked frame. Returns 0, or -1 if lws could not take it. */
static int
send_frame(struct upconn *c, unsigned opcode, const void *payload, size_t len)
{
	unsigned char buf[LWS_PRE + WSF_MAX_HEADER + 256];
	uint8_t mask[4];
	size_t n;

	/* RFC 6455 wants an unpredictable mask: these frames are rare */
	if (lws_get_random(lws_get_context(c->wsi), mask, sizeof(mask)) != sizeof(mask))
		return -1;
	n = wsf_build(buf + LWS_PRE, sizeof(buf) - LWS_PRE, opcode, payload, len, mask);
	if (!n)
		return -1;
	return net_send(c, c->wsi, buf + LWS_PRE, n);
}

int
upconn_send_text(struct upconn *c, const char *msg, size_t len)
{
	return send_frame(c, WSF_OP_TEXT, msg, len);
}

/* The HTTP/1.1 upgrade. The request holds the token: it is built here,
 * written, and wiped; nothing of it is ever logged. */
static int
send_upgrade(struct upconn *c, struct lws *wsi)
{
	uint8_t nonce[16];
	size_t cap = LWS_PRE + strlen(c->path) + strlen(c->url.host) * 2 + 512, n;
	unsigned char *buf;
	int rc = -1;

	if (lws_get_random(lws_get_context(wsi), nonce, sizeof(nonce)) != sizeof(nonce))
		return -1;
	wsf_key(nonce, c->ws_key);
	buf = malloc(cap);
	if (!buf)
		return -1;
	n = wsf_request((char *)buf + LWS_PRE, cap - LWS_PRE, c->url.host, c->url.port, c->url.tls,
			c->path, c->ws_key, UWRELAY_USER_AGENT);
	if (n && !net_send(c, wsi, buf + LWS_PRE, n)) {
		c->hs_state = UPHS_WAIT;
		rc = 0;
	}
	memset(buf, 0, cap);
	free(buf);
	return rc;
}

/* Transport upkeep first (the upgrade, a pong, a close, a ping), then the
 * owner's turn. */
static int
on_writeable(struct upconn *c, struct lws *wsi)
{
	if (c->hs_state == UPHS_SEND)
		return send_upgrade(c, wsi);
	if (c->hs_state != UPHS_DONE)
		return 0;
	if (c->pong_due) {
		c->pong_due = 0;
		if (send_frame(c, WSF_OP_PONG, c->pong_payload, c->pong_len))
			return -1;
	}
	if (c->close_due) {
		uint8_t cp[2] = { (uint8_t)(c->close_due >> 8), (uint8_t)c->close_due };
		int echo = c->closing;

		/* WSF_CLOSE_NO_STATUS: UW's close had no code; ours has none either */
		if (send_frame(c, WSF_OP_CLOSE, cp, c->close_due == WSF_CLOSE_NO_STATUS ? 0 : 2))
			return -1;
		c->close_due = 0;
		c->closing = 1;
		/* echoing UW's close ends the exchange; after our own, wait for
		 * its answer (upconn_close set the timeout) */
		if (echo)
			lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		return 0;
	}
	if (c->closing)
		return 0;
	if (c->ping_due) {
		c->ping_due = 0;
		if (send_frame(c, WSF_OP_PING, NULL, 0))
			return -1;
		if (lws_send_pipe_choked(wsi)) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	return c->ops->writeable(c->owner);
}

/* ---- the answer to the upgrade ---- */

/* UW refused the upgrade with status; body is its text (a 401 says why). */
static void
on_refused(struct upconn *c, int status, const char *body, size_t len)
{
	char text[sizeof(c->auth_reason)];
	size_t n = 0;

	for (size_t i = 0; i < len && n + 1 < sizeof(text); i++) {
		char ch = body[i];

		if (ch == '\n' || ch == '\r' || ch == '\t')
			ch = ' ';
		if (ch >= ' ' && ch < 0x7f && !(ch == ' ' && (!n || text[n - 1] == ' ')))
			text[n++] = ch;
	}
	while (n && text[n - 1] == ' ')
		n--;
	text[n] = '\0';
	c->failed = 1;
	if (status != 401) {
		c->unauthorized = 0;
		log_fail(c->err, c->err_len, "upstream", "handshake failed: HTTP %d%s%.80s%s", status,
			 n ? " (" : "", text, n ? ")" : "");
		return;
	}
	if (!c->unauthorized)
		log_msg(LOG_ERR, "upstream: UW refused the token (HTTP 401): it lacks the "
			"websocket scope or is wrong; retrying slowly");
	/* UW's text, once per change: retries every minute should not
	 * repeat it */
	if (n && (!c->unauthorized || strcmp(text, c->auth_reason)))
		log_msg(LOG_ERR, "upstream: UW says: %s", text);
	c->unauthorized = 1;
	if (n)
		memcpy(c->auth_reason, text, n + 1);
	if (c->auth_reason[0])
		log_maskf(c->err, c->err_len, "HTTP 401 Unauthorized: %s", c->auth_reason);
	else
		log_maskf(c->err, c->err_len,
			  "HTTP 401 Unauthorized: the token does not have the websocket scope");
}

/* Bytes before and in the 101. Returns how many of in[0..len) it used
 * (the rest are WebSocket frames) once the upgrade is done, len while the
 * answer is incomplete, or -1 to close the connection. */
static long
handshake_rx(struct upconn *c, const char *in, size_t len)
{
	size_t old = c->hs_len, take;
	long head;
	const char *why;

	if (c->hs_state != UPHS_WAIT && c->hs_state != UPHS_BODY)
		return -1;	/* UW spoke before our request */
	if (!c->hs_buf && !(c->hs_buf = malloc(HS_HEAD_MAX + HS_BODY_MAX + 1)))
		return -1;
	take = HS_HEAD_MAX + HS_BODY_MAX - c->hs_len;
	if (c->hs_state == UPHS_WAIT && take > HS_HEAD_MAX - c->hs_len)
		take = HS_HEAD_MAX - c->hs_len;
	if (take > len)
		take = len;
	memcpy(c->hs_buf + c->hs_len, in, take);
	c->hs_len += take;
	if (c->hs_state == UPHS_WAIT) {
		head = wsf_response_parse(c->hs_buf, c->hs_len, &c->hs_resp);
		if (head < 0 || (!head && c->hs_len >= HS_HEAD_MAX)) {
			c->failed = 1;
			log_fail(c->err, c->err_len, "upstream", "handshake failed: %s",
				 head < 0 ? "the answer is not HTTP" : "the answer's head is too long");
			return -1;
		}
		if (!head)
			return (long)len;
		c->hs_head_len = head;
		if (c->hs_resp.status == 101) {
			if (wsf_response_check(&c->hs_resp, c->ws_key, &why)) {
				c->failed = 1;
				log_fail(c->err, c->err_len, "upstream", "handshake failed: %s", why);
				return -1;
			}
			c->hs_state = UPHS_DONE;
			free(c->hs_buf);
			c->hs_buf = NULL;
			c->hs_len = 0;
			return head - (long)old;
		}
		c->hs_state = UPHS_BODY;
	}
	/* a refusal: its body up to Content-Length, HS_BODY_MAX or the end
	 * of the connection (on_raw_closed) */
	{
		size_t body = c->hs_len - (size_t)c->hs_head_len;
		long long cl = c->hs_resp.content_length;

		if (body >= HS_BODY_MAX || (cl >= 0 && (long long)body >= cl)) {
			if (cl >= 0 && (long long)body > cl)
				body = (size_t)cl;
			on_refused(c, c->hs_resp.status, c->hs_buf + c->hs_head_len, body);
			return -1;
		}
	}
	return (long)len;
}

/* ---- incoming frames ---- */

/* A close is due (UW's, echoed, or ours for a protocol error): send it,
 * then hang up after CLOSE_WAIT_S at the latest. */
static void
close_after(struct upconn *c, struct lws *wsi, uint16_t code)
{
	c->close_due = code;
	c->closing = 1;
	lws_callback_on_writable(wsi);
	lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, CLOSE_WAIT_S);
}

static int
on_plain(struct upconn *c, struct lws *wsi, const char *in, size_t len)
{
	struct wsf_ev ev;

	if (c->hs_state != UPHS_DONE) {
		long used = handshake_rx(c, in, len);

		if (used < 0)
			return -1;
		if (c->hs_state != UPHS_DONE)
			return 0;
		lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
		c->unauthorized = 0;
		c->auth_reason[0] = '\0';
		c->ping_due = 0;
		c->ops->established(c->owner);
		in += used;
		len -= (size_t)used;
	}
	if (c->closing) {
		/* after our close, UW's answer ends it; anything else is ignored */
		while (len) {
			size_t n = wsf_rx_next(&c->wsrx, in, len, &ev);

			in += n;
			len -= n;
			if (ev.type == WSF_CLOSE || ev.type == WSF_ERROR)
				return -1;
			if (ev.type == WSF_NEED_MORE)
				break;
		}
		return 0;
	}
	c->ops->rx(c->owner);
	while (len) {
		size_t n = wsf_rx_next(&c->wsrx, in, len, &ev);

		in += n;
		len -= n;
		switch (ev.type) {
		case WSF_NEED_MORE:
		case WSF_PONG:
			break;
		case WSF_MESSAGE:
			c->ops->message(c->owner, ev.binary ? UPCONN_BINARY : UPCONN_TEXT, ev.data, ev.len);
			break;
		case WSF_OVERSIZE:
			c->ops->message(c->owner, UPCONN_OVERSIZE, NULL, 0);
			break;
		case WSF_PING:
			/* only the latest ping needs its pong (RFC 6455 5.5.3) */
			c->pong_len = (uint8_t)ev.len;
			memcpy(c->pong_payload, ev.data, ev.len);
			c->pong_due = 1;
			lws_callback_on_writable(wsi);
			break;
		case WSF_CLOSE:
			if (ev.code != WSF_CLOSE_NO_STATUS)
				log_maskf(c->err, c->err_len, "UW closed the connection (code %u)", ev.code);
			else
				log_maskf(c->err, c->err_len, "UW closed the connection");
			close_after(c, wsi, ev.code);	/* echoed, then we hang up */
			return 0;
		case WSF_ERROR:
			log_maskf(c->err, c->err_len, "UW broke the WebSocket protocol: %s", ev.error);
			log_msg(LOG_WARN, "upstream: %s; closing with %u", c->err, ev.code);
			close_after(c, wsi, ev.code);
			return 0;
		}
	}
	return 0;
}

static void
tls_failed(struct upconn *c, const char *err)
{
	c->failed = 1;
	c->unauthorized = 0;
	log_fail(c->err, c->err_len, "upstream", "%s", err);
}

/* Bytes from the socket: plaintext for ws://, TLS records for wss://. */
static int
on_rx(struct upconn *c, struct lws *wsi, const char *in, size_t len)
{
	char err[256];
	long n = 0;
	int r;

	if (!c->tls.ssl)
		return on_plain(c, wsi, in, len);
	if (uptls_feed(&c->tls, in, len))
		return -1;
	if (c->hs_state == UPHS_TLS) {
		r = uptls_handshake(&c->tls, err, sizeof(err));
		if (tls_flush(c, wsi))
			return -1;
		if (r < 0) {
			tls_failed(c, err);
			return -1;
		}
		if (!r)
			return 0;
		c->hs_state = UPHS_SEND;
		lws_callback_on_writable(wsi);
	}
	if (!c->plain && !(c->plain = malloc(PLAIN_CAP)))
		return -1;
	for (;;) {
		size_t have = 0;

		/* fill the buffer first: one parse over many records */
		while (have < PLAIN_CAP &&
		       (n = uptls_read(&c->tls, c->plain + have, PLAIN_CAP - have, err, sizeof(err))) > 0)
			have += (size_t)n;
		if (have && on_plain(c, wsi, c->plain, have))
			return -1;
		if (n < 0) {
			if (!c->failed && !c->closing)
				tls_failed(c, err);
			return -1;
		}
		if (have < PLAIN_CAP)
			break;
	}
	return tls_flush(c, wsi);
}

/* TCP is up: TLS first for wss://, then the upgrade request. */
static int
on_connected(struct upconn *c, struct lws *wsi)
{
	char err[256];

	lws_set_timeout(wsi, PENDING_TIMEOUT_AWAITING_SERVER_RESPONSE, HS_TIMEOUT_S);
	if (!c->url.tls) {
		c->hs_state = UPHS_SEND;
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (uptls_start(&c->tls, c->tls_ctx, c->url.host, err, sizeof(err)) ||
	    uptls_handshake(&c->tls, err, sizeof(err)) < 0) {
		tls_failed(c, err);
		return -1;
	}
	c->hs_state = UPHS_TLS;
	return tls_flush(c, wsi);
}

/* The connect failed before TCP was up. */
static void
on_connect_error(struct upconn *c, struct lws *wsi, const char *why)
{
	if (c->wsi && wsi != c->wsi)
		return;
	c->unauthorized = 0;
	log_fail(c->err, c->err_len, "upstream", "connect failed: %s", why ? why : "unknown error");
	conn_lost(c, NULL);
}

/*
 * UW ended the connection, perhaps with a reset: frames that had already
 * reached the socket's receive buffer are still UW's frames, so they are read
 * and delivered before the loss is reported. poll() reports such a socket
 * readable and lws reads it first; an epoll-based loop (libuv) reports only
 * the error, and lws closes without reading. Bounded by the kernel's buffer,
 * and by DRAIN_MAX should the peer still be sending.
 */
#define DRAIN_MAX (16u << 20)

static void
drain_socket(struct upconn *c, struct lws *wsi)
{
	char buf[16384];
	lws_sockfd_type fd = lws_get_socket_fd(wsi);
	size_t total = 0;
	ssize_t n;

	if (fd < 0 || c->hs_state != UPHS_DONE || c->failed || c->closing || c->killed)
		return;
	while (total < DRAIN_MAX && (n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		total += (size_t)n;
		if (on_rx(c, wsi, buf, (size_t)n))
			return;
	}
}

/* The connection ended (any side, any stage). */
static void
on_raw_closed(struct upconn *c, struct lws *wsi)
{
	drain_socket(c, wsi);
	if (c->hs_state == UPHS_BODY && c->hs_buf)
		on_refused(c, c->hs_resp.status, c->hs_buf + c->hs_head_len,
			   c->hs_len - (size_t)c->hs_head_len);
	else if (c->hs_state != UPHS_DONE && !c->failed) {
		c->unauthorized = 0;
		log_fail(c->err, c->err_len, "upstream", "connection closed %s",
			 c->hs_state == UPHS_TLS ? "during the TLS handshake (or it timed out)" :
			 c->hs_len ? "in the middle of the upgrade's answer" :
			 "with no answer to the upgrade (or it timed out)");
	}
	conn_lost(c, c->hs_state == UPHS_DONE && !c->err[0] ? "connection closed" : NULL);
}

int
upconn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		size_t len)
{
	struct upconn *c = lws_get_opaque_user_data(wsi);
	(void)user;

	if (!c)
		return 0;
	/* an old connection's late callbacks (a close after its error) */
	if (wsi != c->wsi && reason != LWS_CALLBACK_CLIENT_CONNECTION_ERROR)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		on_connect_error(c, wsi, in);
		break;
	case LWS_CALLBACK_RAW_CONNECTED:
		return on_connected(c, wsi);
	case LWS_CALLBACK_RAW_RX:
		return on_rx(c, wsi, in, len);
	case LWS_CALLBACK_RAW_WRITEABLE:
		return on_writeable(c, wsi);
	case LWS_CALLBACK_RAW_CLOSE:
		on_raw_closed(c, wsi);
		break;
	default:
		break;
	}
	return 0;
}
