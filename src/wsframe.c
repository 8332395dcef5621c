/* wsframe.c: RFC 6455 without I/O (see wsframe.h).
 *
 * The receive side is a small state machine over frames, not bytes: a frame
 * header (2 to 14 bytes) is collected, then the payload is taken in one
 * piece per read. In client mode a whole unfragmented message inside one
 * read is handed out where it lies; only a message split across reads or
 * frames is copied, into one buffer bounded by max_message. In server mode
 * every payload is copied (and unmasked on the way): the input is const,
 * and browsers' messages are small and bounded by max_message. */
#include <openssl/evp.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "httpreq.h"
#include "wsframe.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* A reassembly buffer above this is freed after its message. */
#define KEEP_BUF_MAX 65536

void
wsf_rx_init(struct wsf_rx *rx, size_t max_message)
{
	memset(rx, 0, sizeof(*rx));
	rx->max_message = max_message;
}

void
wsf_rx_init_server(struct wsf_rx *rx, size_t max_message)
{
	wsf_rx_init(rx, max_message);
	rx->server = 1;
}

void
wsf_rx_free(struct wsf_rx *rx)
{
	size_t max = rx->max_message;
	uint8_t server = rx->server, rsv1 = rx->allow_rsv1;

	free(rx->buf);
	wsf_rx_init(rx, max);
	rx->server = server;
	rx->allow_rsv1 = rsv1;
}

int
wsf_utf8_valid(const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s, *e = p + n;

	while (p < e) {
		uint8_t c = *p, lo = 0x80, hi = 0xbf;

#if defined(__SSE2__)
		if (e - p >= 16) {
			unsigned mask = (unsigned)_mm_movemask_epi8(
				_mm_loadu_si128((const __m128i *)(const void *)p));

			if (!mask) {
				p += 16;
				continue;
			}
			p += __builtin_ctz(mask);
			c = *p;
		}
#endif
		if (e - p >= 8) {
			uint64_t w;

			memcpy(&w, p, 8);
			if (!(w & 0x8080808080808080ULL)) {
				p += 8;
				continue;
			}
		}
		if (c < 0x80) {
			p++;
		} else if (c >= 0xc2 && c <= 0xdf) {
			if (e - p < 2 || (p[1] & 0xc0) != 0x80)
				return 0;
			p += 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			if (c == 0xe0)
				lo = 0xa0;	/* overlong */
			if (c == 0xed)
				hi = 0x9f;	/* surrogates */
			if (e - p < 3 || p[1] < lo || p[1] > hi || (p[2] & 0xc0) != 0x80)
				return 0;
			p += 3;
		} else if (c >= 0xf0 && c <= 0xf4) {
			if (c == 0xf0)
				lo = 0x90;	/* overlong */
			if (c == 0xf4)
				hi = 0x8f;	/* past U+10FFFF */
			if (e - p < 4 || p[1] < lo || p[1] > hi || (p[2] & 0xc0) != 0x80 ||
			    (p[3] & 0xc0) != 0x80)
				return 0;
			p += 4;
		} else
			return 0;
	}
	return 1;
}

static size_t
fail(struct wsf_rx *rx, struct wsf_ev *ev, uint16_t code, const char *why, size_t used)
{
	rx->dead = 1;
	ev->type = WSF_ERROR;
	ev->code = code;
	ev->error = why;
	return used;
}

/* Received close codes a peer may send (RFC 6455 7.4, and 1012-1014 from
 * the IANA registry, which servers use for restarts). */
static int
close_code_ok(unsigned c)
{
	if (c >= 3000 && c <= 4999)
		return 1;
	return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014);
}

static void
end_message(struct wsf_rx *rx)
{
	rx->msg_op = 0;
	rx->msg_rsv1 = 0;
	rx->discard = 0;
	rx->msg_len = 0;
	rx->buf_len = 0;	/* the bytes stay readable until the next call */
}

/* The current frame's payload is complete; data/len is its payload for a
 * control frame or an in-place data frame, NULL for buffered data. Returns
 * 1 with an event in ev, 0 for none (a non-final fragment), -1 on error. */
static int
end_frame(struct wsf_rx *rx, struct wsf_ev *ev, const char *data, size_t len)
{
	rx->in_payload = 0;
	switch (rx->opcode) {
	case WSF_OP_PING:
	case WSF_OP_PONG:
		ev->type = rx->opcode == WSF_OP_PING ? WSF_PING : WSF_PONG;
		ev->data = data ? data : (const char *)rx->ctl;
		ev->len = data ? len : rx->ctl_len;
		rx->ctl_len = 0;
		return 1;
	case WSF_OP_CLOSE: {
		const char *p = data ? data : (const char *)rx->ctl;
		size_t n = data ? len : rx->ctl_len;

		rx->ctl_len = 0;
		ev->type = WSF_CLOSE;
		ev->code = WSF_CLOSE_NO_STATUS;
		if (n == 1) {
			fail(rx, ev, WSF_CLOSE_PROTOCOL, "close frame with a 1-byte payload", 0);
			return -1;
		}
		if (n >= 2) {
			ev->code = (uint16_t)((uint8_t)p[0] << 8 | (uint8_t)p[1]);
			if (!close_code_ok(ev->code)) {
				fail(rx, ev, WSF_CLOSE_PROTOCOL, "close frame with an invalid code", 0);
				return -1;
			}
			if (!wsf_utf8_valid(p + 2, n - 2)) {
				fail(rx, ev, WSF_CLOSE_INVALID_DATA, "close reason is not UTF-8", 0);
				return -1;
			}
			ev->data = p + 2;
			ev->len = n - 2;
		}
		return 1;
	}
	default:
		break;
	}
	if (!rx->fin)
		return 0;
	if (rx->discard) {
		ev->type = WSF_OVERSIZE;
		ev->len = rx->msg_len > SIZE_MAX ? SIZE_MAX : (size_t)rx->msg_len;
		ev->binary = rx->msg_op == WSF_OP_BINARY;
		end_message(rx);
		return 1;
	}
	ev->type = WSF_MESSAGE;
	ev->binary = rx->msg_op == WSF_OP_BINARY;
	ev->compressed = rx->msg_rsv1;
	ev->data = data ? data : rx->buf_len ? rx->buf : "";
	ev->len = data ? len : rx->buf_len;
	end_message(rx);
	if (!ev->binary && !ev->compressed && !wsf_utf8_valid(ev->data, ev->len)) {
		fail(rx, ev, WSF_CLOSE_INVALID_DATA, "text message is not UTF-8", 0);
		return -1;
	}
	return 1;
}

/* Bytes of the header whose second byte is b1. */
static size_t
header_size(uint8_t b1)
{
	uint8_t l7 = b1 & 0x7f;

	return 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}

/* XORs d[0..n) with the frame's mask, continuing where the last piece of
 * this frame's payload ended. */
static void
unmask(struct wsf_rx *rx, uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] ^= rx->mask[(rx->mask_pos + i) & 3];
}

/* Header complete in rx->hdr: decode and check it. 0, or -1 on error. */
static int
start_frame(struct wsf_rx *rx, struct wsf_ev *ev)
{
	const uint8_t *h = rx->hdr;
	uint64_t n = h[1] & 0x7f;

	if (h[1] & 0x80)	/* only in server mode: check_first_bytes */
		memcpy(rx->mask, h + header_size(h[1]) - 4, 4);
	rx->mask_pos = 0;
	rx->fin = h[0] >> 7;
	rx->opcode = h[0] & 0x0f;
	if (n == 126)
		n = (uint64_t)h[2] << 8 | h[3];
	else if (n == 127) {
		n = 0;
		for (int i = 2; i < 10; i++)
			n = n << 8 | h[i];
		if (n >> 63) {
			fail(rx, ev, WSF_CLOSE_PROTOCOL, "64-bit length with the top bit set", 0);
			return -1;
		}
	}
	rx->left = n;
	switch (rx->opcode) {
	case WSF_OP_TEXT:
	case WSF_OP_BINARY:
		if (rx->msg_op) {
			fail(rx, ev, WSF_CLOSE_PROTOCOL, "new message inside a fragmented one", 0);
			return -1;
		}
		rx->msg_op = rx->opcode;
		rx->msg_rsv1 = (h[0] & 0x40) != 0;
		rx->msg_len = 0;
		rx->discard = 0;
		rx->buf_len = 0;
		break;
	case WSF_OP_CONT:
		if (!rx->msg_op) {
			fail(rx, ev, WSF_CLOSE_PROTOCOL, "continuation frame without a message", 0);
			return -1;
		}
		break;
	default:	/* control frames, checked in check_first_bytes */
		if (n > 125) {
			fail(rx, ev, WSF_CLOSE_PROTOCOL, "control frame over 125 bytes", 0);
			return -1;
		}
		rx->ctl_len = 0;
		rx->in_payload = 1;
		return 0;
	}
	/* saturating: fragments may announce any amount in total. A client's
	 * empty fragment counts as one byte: a message of endless empty
	 * fragments never grew, never ended and was never charged (one
	 * client kept the loop busy with 80 million frames a second). */
	if (rx->server && !n)
		n = 1;
	rx->msg_len = rx->msg_len + n < rx->msg_len ? UINT64_MAX : rx->msg_len + n;
	if (!rx->discard && rx->msg_len > rx->max_message) {
		rx->discard = 1;
		rx->buf_len = 0;
	}
	rx->in_payload = 1;
	return 0;
}

/* What the first two bytes alone rule out. 0, or -1 on error. */
static int
check_first_bytes(struct wsf_rx *rx, struct wsf_ev *ev)
{
	uint8_t b0 = rx->hdr[0], b1 = rx->hdr[1], op = b0 & 0x0f;

	/* RFC 7692 6: RSV1 marks a compressed message, on its first frame
	 * only, and only once the extension was negotiated */
	if ((b0 & 0x30) || ((b0 & 0x40) && !(rx->allow_rsv1 && (op == WSF_OP_TEXT || op == WSF_OP_BINARY)))) {
		fail(rx, ev, WSF_CLOSE_PROTOCOL, "reserved bits set", 0);
		return -1;
	}
	if (rx->server && !(b1 & 0x80)) {
		fail(rx, ev, WSF_CLOSE_PROTOCOL, "unmasked frame from a client", 0);
		return -1;
	}
	if (!rx->server && (b1 & 0x80)) {
		fail(rx, ev, WSF_CLOSE_PROTOCOL, "masked frame from the server", 0);
		return -1;
	}
	if (op > WSF_OP_BINARY && op != WSF_OP_CLOSE && op != WSF_OP_PING && op != WSF_OP_PONG) {
		fail(rx, ev, WSF_CLOSE_PROTOCOL, "unknown opcode", 0);
		return -1;
	}
	if (op >= WSF_OP_CLOSE && !(b0 & 0x80)) {
		fail(rx, ev, WSF_CLOSE_PROTOCOL, "fragmented control frame", 0);
		return -1;
	}
	return 0;
}

/* Appends to the reassembly buffer (unmasked in server mode); the caller
 * made sure buf_len + n <= max_message. Returns 0, or -1 when out of
 * memory. */
static int
append(struct wsf_rx *rx, const uint8_t *p, size_t n)
{
	if (rx->buf_len + n > rx->buf_cap) {
		/* a server's buffer holds every message and is kept between
		 * them: start small, browsers' messages are a few hundred bytes
		 * and a buffer stays with each of thousands of connections */
		size_t nc = rx->buf_cap ? rx->buf_cap : rx->server ? 512 : 16384;
		char *nb;

		while (nc < rx->buf_len + n)
			nc *= 2;
		if (nc > rx->max_message)
			nc = rx->max_message;
		nb = realloc(rx->buf, nc);
		if (!nb)
			return -1;
		rx->buf = nb;
		rx->buf_cap = nc;
	}
	memcpy(rx->buf + rx->buf_len, p, n);
	if (rx->server)
		unmask(rx, (uint8_t *)rx->buf + rx->buf_len, n);
	rx->buf_len += n;
	return 0;
}

size_t
wsf_rx_next(struct wsf_rx *rx, const char *in, size_t len, struct wsf_ev *ev)
{
	const uint8_t *start = (const uint8_t *)in, *p = start, *end = start + len;
	int r;

	ev->type = WSF_NEED_MORE;
	ev->binary = 0;
	ev->compressed = 0;
	ev->data = "";		/* never NULL, even for an empty payload */
	ev->len = 0;
	ev->code = 0;
	ev->error = NULL;
	if (rx->dead)
		return fail(rx, ev, WSF_CLOSE_PROTOCOL, "connection already failed", 0);
	/* a burst of big messages should not pin a big buffer forever; the
	 * last event's data may live there, so only now */
	if (!rx->msg_op && rx->buf_cap > KEEP_BUF_MAX) {
		free(rx->buf);
		rx->buf = NULL;
		rx->buf_cap = 0;
	}
	for (;;) {
		if (!rx->in_payload) {
			size_t need = rx->hdr_len >= 2 ? header_size(rx->hdr[1]) : 2, take;

			while (rx->hdr_len < need) {
				if (p == end)
					return (size_t)(p - start);
				take = need - rx->hdr_len;
				if (take > (size_t)(end - p))
					take = (size_t)(end - p);
				memcpy(rx->hdr + rx->hdr_len, p, take);
				rx->hdr_len = (uint8_t)(rx->hdr_len + take);
				p += take;
				if (rx->hdr_len == 2) {
					if (check_first_bytes(rx, ev))
						return (size_t)(p - start);
					need = header_size(rx->hdr[1]);
				}
			}
			rx->hdr_len = 0;
			if (start_frame(rx, ev))
				return (size_t)(p - start);
			if (!rx->left) {
				r = end_frame(rx, ev, NULL, 0);
				if (r)
					return (size_t)(p - start);
			}
			continue;
		}
		if (p == end)
			return (size_t)(p - start);
		{
			size_t avail = (size_t)(end - p);
			size_t k = rx->left < avail ? (size_t)rx->left : avail;

			if (rx->opcode >= WSF_OP_CLOSE) {
				if (k == rx->left && !rx->ctl_len && !rx->server) {
					/* the whole control payload is here */
					rx->left = 0;
					p += k;
					r = end_frame(rx, ev, (const char *)p - k, k);
					return (size_t)(p - start);
				}
				memcpy(rx->ctl + rx->ctl_len, p, k);
				if (rx->server)
					unmask(rx, rx->ctl + rx->ctl_len, k);
				rx->ctl_len += k;
			} else if (!rx->discard) {
				if (k == rx->left && rx->fin && !rx->buf_len && !rx->server) {
					/* the common case: a whole message here, no copy */
					rx->left = 0;
					p += k;
					r = end_frame(rx, ev, (const char *)p - k, k);
					return (size_t)(p - start);
				}
				if (append(rx, p, k)) {
					/* out of memory: drop this message like an oversize one */
					rx->discard = 1;
					rx->buf_len = 0;
				}
			}
			p += k;
			rx->left -= k;
			rx->mask_pos = (uint8_t)((rx->mask_pos + k) & 3);
			if (!rx->left) {
				r = end_frame(rx, ev, NULL, 0);
				if (r)
					return (size_t)(p - start);
			}
		}
	}
}

size_t
wsf_build(uint8_t *out, size_t cap, unsigned opcode, const void *payload, size_t len,
	  const uint8_t mask[4])
{
	const uint8_t *src = payload;
	uint8_t m = mask ? 0x80 : 0;
	size_t h = 2;

	if (opcode >= WSF_OP_CLOSE && len > 125)
		return 0;
	if (len >= 126)
		h += len > 65535 ? 8 : 2;
	if (mask)
		h += 4;
	if (cap < h || cap - h < len)
		return 0;
	out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
	if (len < 126)
		out[1] = (uint8_t)(m | len);
	else if (len <= 65535) {
		out[1] = m | 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
	} else {
		out[1] = m | 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	}
	if (!mask) {
		if (len)
			memcpy(out + h, src, len);
		return h + len;
	}
	memcpy(out + h - 4, mask, 4);
	for (size_t i = 0; i < len; i++)
		out[h + i] = src[i] ^ mask[i & 3];
	return h + len;
}

void
wsf_key(const uint8_t nonce[16], char key[25])
{
	EVP_EncodeBlock((unsigned char *)key, nonce, 16);
}

void
wsf_accept_for(const char *key, char accept[29])
{
	char cat[128];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int n = snprintf(cat, sizeof(cat), "%s" WS_GUID, key);

	accept[0] = '\0';
	if (n < 0 || (size_t)n >= sizeof(cat) ||
	    !EVP_Digest(cat, (size_t)n, md, &mdlen, EVP_sha1(), NULL) || mdlen != 20)
		return;
	EVP_EncodeBlock((unsigned char *)accept, md, 20);
}

size_t
wsf_request(char *out, size_t cap, const char *host, int port, int tls, const char *path,
	    const char *key, const char *user_agent)
{
	char hostport[300];
	int v6 = strchr(host, ':') != NULL, n;

	if (port == (tls ? 443 : 80))
		n = snprintf(hostport, sizeof(hostport), v6 ? "[%s]" : "%s", host);
	else
		n = snprintf(hostport, sizeof(hostport), v6 ? "[%s]:%d" : "%s:%d", host, port);
	if (n < 0 || (size_t)n >= sizeof(hostport))
		return 0;
	n = snprintf(out, cap,
		     "GET %s HTTP/1.1\r\n"
		     "Host: %s\r\n"
		     "Upgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "Sec-WebSocket-Key: %s\r\n"
		     "Sec-WebSocket-Version: 13\r\n"
		     "Origin: http://%s\r\n"
		     "User-Agent: %s\r\n"
		     "\r\n", path, hostport, key, hostport, user_agent);
	if (n < 0 || (size_t)n >= cap)
		return 0;
	return (size_t)n;
}

long
wsf_response_parse(const char *buf, size_t len, struct wsf_response *r)
{
	const char *p = buf, *end = buf + len, *eol, *head_end = NULL;

	memset(r, 0, sizeof(*r));
	r->content_length = -1;
	for (size_t i = 0; i + 3 < len; i++)
		if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') {
			head_end = buf + i + 4;
			break;
		}
	/* reject what cannot become a status line before waiting for more */
	if (len >= 5 && memcmp(buf, "HTTP/", 5))
		return -1;
	if (!head_end)
		return 0;
	end = head_end - 2;	/* the last line's CRLF: each line ends at "\r\n" */
	eol = memchr(p, '\r', (size_t)(end - p));
	if (!eol || eol - p < 12 || memcmp(p, "HTTP/1.", 7) || p[8] != ' ')
		return -1;
	for (int i = 9; i < 12; i++)
		if (p[i] < '0' || p[i] > '9')
			return -1;
	r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	for (p = eol + 2; p < end; p = eol + 2) {
		const char *colon, *v, *ve;
		size_t nl;

		eol = memchr(p, '\r', (size_t)(end - p));
		if (!eol || eol[1] != '\n')
			return -1;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon)
			return -1;
		nl = (size_t)(colon - p);
		v = colon + 1;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		ve = eol;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
#define NAME_IS(s) (nl == sizeof(s) - 1 && !strncasecmp(p, s, nl))
		if (NAME_IS("upgrade"))
			r->upgrade_websocket = ve - v == 9 && !strncasecmp(v, "websocket", 9);
		else if (NAME_IS("connection"))
			r->connection_upgrade = httpreq_list_has(v, (size_t)(ve - v), "upgrade");
		else if (NAME_IS("sec-websocket-accept")) {
			size_t n = (size_t)(ve - v);

			if (n >= sizeof(r->accept))
				n = sizeof(r->accept) - 1;
			memcpy(r->accept, v, n);
			r->accept[n] = '\0';
		} else if (NAME_IS("content-length")) {
			long long cl = 0;

			if (v == ve)
				return -1;
			for (const char *q = v; q < ve; q++) {
				if (*q < '0' || *q > '9' || cl > 1000000000000LL)
					return -1;
				cl = cl * 10 + (*q - '0');
			}
			r->content_length = cl;
		} else if (NAME_IS("sec-websocket-extensions"))
			r->has_extensions = 1;
		else if (NAME_IS("sec-websocket-protocol"))
			r->has_protocol = 1;
#undef NAME_IS
	}
	return (long)(head_end - buf);
}

int
wsf_response_check(const struct wsf_response *r, const char *key, const char **why)
{
	char want[29];

	if (r->status != 101) {
		*why = "not 101 Switching Protocols";
		return -1;
	}
	if (!r->upgrade_websocket) {
		*why = "101 without Upgrade: websocket";
		return -1;
	}
	if (!r->connection_upgrade) {
		*why = "101 without Connection: Upgrade";
		return -1;
	}
	wsf_accept_for(key, want);
	if (!want[0] || strcmp(r->accept, want)) {
		*why = "wrong Sec-WebSocket-Accept";
		return -1;
	}
	if (r->has_extensions) {
		*why = "server chose an extension we did not offer";
		return -1;
	}
	if (r->has_protocol) {
		*why = "server chose a subprotocol we did not offer";
		return -1;
	}
	return 0;
}

/* A Sec-WebSocket-Key must be base64 of 16 bytes: 22 characters of the
 * alphabet and "==" (the form every browser sends; node's ws checks the
 * same). */
static int
key_ok(const char *k, size_t n)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	if (n != 24 || k[22] != '=' || k[23] != '=')
		return 0;
	for (size_t i = 0; i < 22; i++)
		if (!k[i] || !strchr(b64, k[i]))
			return 0;
	return 1;
}

int
wsf_upgrade_check(const struct httpreq *r, char accept[29], const char **why)
{
	const char *v;
	size_t vl;
	char key[25];

	accept[0] = '\0';
	if (r->method_len != 3 || memcmp(r->method, "GET", 3)) {
		*why = "a WebSocket upgrade must be a GET";
		return 400;
	}
	if (r->minor != 1) {
		*why = "a WebSocket upgrade needs HTTP/1.1";
		return 400;
	}
	if (!httpreq_has_token(r, "upgrade", "websocket")) {
		*why = "no Upgrade: websocket";
		return 400;
	}
	if (!httpreq_has_token(r, "connection", "upgrade")) {
		*why = "no Connection: Upgrade";
		return 400;
	}
	v = httpreq_header(r, "sec-websocket-version", &vl);
	if (!v || httpreq_header_count(r, "sec-websocket-version") != 1) {
		*why = "Sec-WebSocket-Version missing or given twice";
		return 400;
	}
	if (vl != 2 || memcmp(v, "13", 2)) {
		*why = "unsupported Sec-WebSocket-Version (this server speaks 13)";
		return 426;
	}
	v = httpreq_header(r, "sec-websocket-key", &vl);
	if (!v || httpreq_header_count(r, "sec-websocket-key") != 1 || !key_ok(v, vl)) {
		*why = "Sec-WebSocket-Key must be given once, base64 of 16 bytes";
		return 400;
	}
	memcpy(key, v, 24);
	key[24] = '\0';
	wsf_accept_for(key, accept);
	if (!accept[0]) {
		*why = "could not compute Sec-WebSocket-Accept";
		return 400;
	}
	return 0;
}
