/* upconn.h: the transport of the UW link: one raw lws client connection
 * carrying TLS (uptls.h), the HTTP upgrade and WebSocket frames
 * (wsframe.h), with pongs and the close handshake done here. It knows
 * nothing of UW's protocol: what the frames mean, when to reconnect and
 * what to send is the owner's (upstream.c), told through struct
 * upconn_ops. */
#ifndef UWRELAY_UPCONN_H
#define UWRELAY_UPCONN_H

#include <libwebsockets.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "uptls.h"
#include "wsframe.h"

/* What arrived: a text message, or one that is dropped and only counted. */
enum upconn_msg { UPCONN_TEXT, UPCONN_BINARY, UPCONN_OVERSIZE };

/* The owner's side. Each is called on the loop with the owner pointer
 * given to upconn_init; none may free the upconn. */
struct upconn_ops {
	/* The 101 was checked: WebSocket frames from now on. */
	void (*established)(void *owner);
	/* Bytes arrived on an open WebSocket (before the messages in them). */
	void (*rx)(void *owner);
	/* One whole message (data is valid only during the call). */
	void (*message)(void *owner, enum upconn_msg kind, const char *data, size_t len);
	/* The transport's own frames are sent: the owner may send. Returns 0,
	 * or -1 to close the connection. */
	int (*writeable)(void *owner);
	/* The connection ended, at any stage; the error buffer says why. */
	void (*lost)(void *owner);
};

struct upconn {
	const struct upconn_ops *ops;
	void *owner;
	char *err;			/* the owner's error buffer, written masked */
	size_t err_len;
	struct lws *wsi;		/* NULL: no connection */
	struct config_url url;		/* where to: Host, SNI, the request */
	char url_masked[900];		/* the url with "token=***", for logs and status */
	char *path;			/* secret: the request path with the token, never logged */
	int unauthorized;		/* the last upgrade was answered 401 */
	char auth_reason[200];		/* UW's text for that 401, "" if unknown */
	int failed;			/* err already says why this attempt failed */
	/* the upgrade: request, then the answer's head (and a refusal's body) */
	int hs_state;			/* UPHS_* in upconn.c */
	char ws_key[25];		/* Sec-WebSocket-Key of this attempt */
	char *hs_buf;
	size_t hs_len;
	long hs_head_len;		/* > 0 once the head is parsed */
	struct wsf_response hs_resp;
	/* frames */
	struct wsf_rx wsrx;
	int ping_due;
	uint8_t pong_due, pong_len;
	uint8_t pong_payload[125];
	uint16_t close_due;		/* send a close with this code, then hang up */
	int closing;			/* a close was received or sent: ignore further input */
	int killed;			/* we dropped this connection: what is left unread goes too */
	SSL_CTX *tls_ctx;		/* for wss://, made once (ca_file needs a restart) */
	struct uptls tls;		/* this connection's TLS, if wss:// */
	char *plain;			/* decrypted bytes before they are parsed */
};

/* Sets up an idle transport reporting to ops/owner; errors go, masked,
 * into err[0..err_len). Cannot fail. */
void upconn_init(struct upconn *c, const struct upconn_ops *ops, void *owner, char *err,
		 size_t err_len);
/* Sets where to connect: parses url (url_masked is set once it parses),
 * builds the secret path with the token, makes the TLS context for wss://
 * once (ca_file needs a restart). Returns 0, or -1 with a reason in why
 * ("" if token is NULL). */
int upconn_target(struct upconn *c, const char *url, const char *token, const char *ca_file,
		  char *why, size_t whylen);
/* Starts a raw connection to the numeric address of the target's host.
 * Returns 0, or -1 with the error buffer set and logged (nothing to clean up). */
int upconn_connect(struct upconn *c, struct lws_context *ctx, struct lws_vhost *vh,
		   const char *address, size_t max_frame);
/* Asks for a WRITEABLE turn (the owner's writeable op follows the
 * transport's own frames). No-op without a connection. */
void upconn_want_write(struct upconn *c);
/* 1 if lws' pipe is full: the owner should stop sending and wait for writeable. */
int upconn_choked(struct upconn *c);
/* Sends one masked text frame; only from the writeable op. Returns 0 or -1. */
int upconn_send_text(struct upconn *c, const char *msg, size_t len);
/* Sends a ping at the next WRITEABLE turn. */
void upconn_ping(struct upconn *c);
/* Closes politely: a WebSocket close with code once the WebSocket is up
 * (UW's answer, or a second, ends it), otherwise at once. */
void upconn_close(struct upconn *c, uint16_t code);
/* Drops the connection at once (the lost op follows). */
void upconn_kill(struct upconn *c);
/* Frees buffers, the secret path and TLS state; the connection itself is lws'. Accepts an idle upconn. */
void upconn_free(struct upconn *c);
/* The lws protocol callback of the UW link: routes each reason to upconn.c. */
int upconn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len);

#endif
