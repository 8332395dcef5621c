/* wsframe.h: RFC 6455 without I/O, both sides. Client: the opening
 * handshake (request, the server's answer, Sec-WebSocket-Accept), the
 * server's frames parsed in place from reads of any size, and the client's
 * masked frames. Server: the check of a browser's upgrade request, its
 * masked frames parsed and unmasked, and unmasked frames to send.
 *
 * Why uwrelay frames UW's socket itself: libwebsockets 4.1.6 runs every
 * received byte of a client connection through a per-byte state machine
 * (lws_ws_client_rx_sm), ~5 ns a byte, which capped ingest at ~110k frames/s
 * of 1 KB. Here a frame costs a header decode and, when the whole frame is
 * in the read buffer (the common case), no copy at all. */
#ifndef UWRELAY_WSFRAME_H
#define UWRELAY_WSFRAME_H

#include <stddef.h>
#include <stdint.h>

struct httpreq;

#define WSF_OP_CONT 0x0
#define WSF_OP_TEXT 0x1
#define WSF_OP_BINARY 0x2
#define WSF_OP_CLOSE 0x8
#define WSF_OP_PING 0x9
#define WSF_OP_PONG 0xa

/* Close codes (RFC 6455 7.4.1). */
#define WSF_CLOSE_NORMAL 1000
#define WSF_CLOSE_GOING_AWAY 1001
#define WSF_CLOSE_PROTOCOL 1002
#define WSF_CLOSE_NO_STATUS 1005	/* never sent: "the close frame had no code" */
#define WSF_CLOSE_INVALID_DATA 1007
#define WSF_CLOSE_TOO_BIG 1009

/* Largest client frame header: 2 + 8 (length) + 4 (mask). */
#define WSF_MAX_HEADER 14

enum wsf_event {
	WSF_NEED_MORE = 0,	/* every byte given was used; no event yet */
	WSF_MESSAGE,		/* a whole text or binary message: data, len, binary */
	WSF_OVERSIZE,		/* a message over max_message ended; its bytes were skipped */
	WSF_PING,		/* data, len: the payload to send back in a pong */
	WSF_PONG,
	WSF_CLOSE,		/* the server closes: code (WSF_CLOSE_NO_STATUS if none), reason in data */
	WSF_ERROR,		/* protocol violation: close with code; error says why. Final. */
};

struct wsf_ev {
	enum wsf_event type;
	int binary;		/* WSF_MESSAGE: opcode was binary */
	int compressed;		/* WSF_MESSAGE: RSV1 was set (permessage-deflate); data not inflated, not UTF-8 checked */
	const char *data;	/* never NULL; valid until the next wsf_rx_next() call */
	size_t len;
	uint16_t code;		/* WSF_CLOSE, WSF_ERROR */
	const char *error;	/* WSF_ERROR: a static string */
};

/* Parser state of one connection. Plain data; wsf_rx_free() releases the
 * reassembly buffer. */
struct wsf_rx {
	size_t max_message;	/* bigger messages are skipped (WSF_OVERSIZE) */
	uint8_t hdr[WSF_MAX_HEADER];
	uint8_t hdr_len;	/* header bytes collected so far */
	uint8_t in_payload;	/* header complete, payload bytes still to come */
	uint8_t opcode, fin;
	uint64_t left;		/* payload bytes of the current frame not yet seen */
	/* the data message in progress (spans continuation frames) */
	uint8_t msg_op;		/* 0: none */
	uint8_t discard;	/* over max_message: bytes are skipped */
	uint64_t msg_len;	/* bytes announced so far (saturating) */
	char *buf;		/* malloc'd: a message split across reads or frames */
	size_t buf_len, buf_cap;
	/* a control frame split across reads */
	uint8_t ctl[125];
	size_t ctl_len;
	uint8_t dead;		/* an error was returned: the connection is done */
	uint8_t server;		/* reads a client's frames: every frame masked */
	uint8_t mask[4];	/* server mode: the current frame's masking key */
	uint8_t mask_pos;	/* payload bytes of the current frame seen, mod 4 */
	uint8_t allow_rsv1;	/* permessage-deflate negotiated: RSV1 may mark a message's first frame */
	uint8_t msg_rsv1;	/* the message in progress is compressed */
};

/* Client mode: reads a server's frames (a masked one is an error). */
void wsf_rx_init(struct wsf_rx *rx, size_t max_message);
/* Server mode: reads a client's frames; an unmasked one is WSF_ERROR 1002,
 * payloads are unmasked into rx's own buffers before they are handed out,
 * and an empty fragment counts as one byte towards max_message. */
void wsf_rx_init_server(struct wsf_rx *rx, size_t max_message);
/* Frees the reassembly buffer and restarts at a frame boundary (keeps
 * max_message and the mode). Safe on a zeroed struct. */
void wsf_rx_free(struct wsf_rx *rx);

/* Consumes bytes from in[0..len) until one event is complete or the input
 * is used up, and returns how many it consumed (<= len). ev->type is
 * WSF_NEED_MORE when all of it was consumed without an event. Call again
 * with the rest after each event. In client mode ev->data points into `in`
 * when a whole frame was there (no copy), else into rx's buffer; in server
 * mode always into rx's buffers. Either way it is valid until the next
 * call. After WSF_ERROR every call returns WSF_ERROR again. */
size_t wsf_rx_next(struct wsf_rx *rx, const char *in, size_t len, struct wsf_ev *ev);

/* 1 if s[0..n) is well-formed UTF-8 (RFC 3629: no overlongs, surrogates or
 * code points past U+10FFFF), else 0. */
int wsf_utf8_valid(const char *s, size_t n);

/* Writes a frame (FIN set) into out: header, then payload. With a mask it
 * is a client frame (payload XORed with mask); with mask NULL a server
 * frame (unmasked). Returns its length, or 0 if cap is too small or a
 * control frame's payload is over 125 bytes. */
size_t wsf_build(uint8_t *out, size_t cap, unsigned opcode, const void *payload, size_t len,
		 const uint8_t mask[4]);

/* Sec-WebSocket-Key: base64 of 16 random bytes, 24 characters + NUL. */
void wsf_key(const uint8_t nonce[16], char key[25]);
/* Sec-WebSocket-Accept the server must answer for key: base64(SHA-1(key +
 * GUID)), 28 characters + NUL. */
void wsf_accept_for(const char *key, char accept[29]);

/* Writes the HTTP/1.1 upgrade request. host is sent with :port unless the
 * port is the scheme's default. path holds the secret token: the buffer
 * must be wiped by the caller. Returns the length, or 0 if cap is too
 * small. */
size_t wsf_request(char *out, size_t cap, const char *host, int port, int tls, const char *path,
		   const char *key, const char *user_agent);

struct wsf_response {
	int status;		/* HTTP status code */
	int upgrade_websocket;	/* Upgrade: websocket */
	int connection_upgrade;	/* Connection: contains "upgrade" */
	char accept[64];	/* Sec-WebSocket-Accept, "" if absent */
	long long content_length;	/* -1 if absent */
	int has_extensions;	/* Sec-WebSocket-Extensions present (we offered none) */
	int has_protocol;	/* Sec-WebSocket-Protocol present (we offered none) */
};

/* Parses an HTTP/1.x response head at the start of buf. Returns the head's
 * length (through the blank line) when complete, 0 if more bytes are
 * needed, -1 if it is not an HTTP response. */
long wsf_response_parse(const char *buf, size_t len, struct wsf_response *r);

/* Checks a parsed head is an acceptable 101 for key. Returns 0, or -1 with
 * a static reason in *why. */
int wsf_response_check(const struct wsf_response *r, const char *key, const char **why);

/* Server side: checks a parsed request (httpreq.h) is a valid RFC 6455
 * opening handshake: GET, HTTP/1.1, Upgrade: websocket, Connection:
 * Upgrade, Sec-WebSocket-Version 13 and a Sec-WebSocket-Key of base64 of
 * 16 bytes, each version and key header given once. Returns 0 and fills
 * accept (Sec-WebSocket-Accept, 28 characters + NUL); else an HTTP status
 * with a static reason in *why: 400, or 426 when the version is not 13
 * (the answer must then carry Sec-WebSocket-Version: 13). */
int wsf_upgrade_check(const struct httpreq *r, char accept[29], const char **why);

#endif
