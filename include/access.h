/* access.h: who may talk to the relay, decided in one pure place.
 *
 * access_decide() looks at one request (method, path, Host, Origin, the
 * presented token or cookie) and says whether to serve it, and which CORS
 * and Set-Cookie headers go with the answer. No lws, no sockets: the
 * transport fills struct access_req and carries the verdict out. Connection
 * caps (clients.max_connections, max_per_ip) are not decided here. */
#ifndef UWRELAY_ACCESS_H
#define UWRELAY_ACCESS_H

#include <stddef.h>
#include "config.h"

#define ACCESS_COOKIE_NAME "uwrelay_auth"
#define ACCESS_ORIGIN_MAX 300	/* longest origin kept, "scheme://host:port" */

struct access {
	unsigned char (*digests)[32];	/* SHA-256 of each accepted token */
	unsigned char (*cookies)[32];	/* HMAC(cookie_key, digest) of each, same order */
	size_t n;
	unsigned char cookie_key[32];	/* drawn at load; access_keep_key carries it over */
	int tls;			/* the listener serves https */
	int loopback;			/* the listener is on a loopback address */
	int any_origin;			/* clients.allowed_origins has "*" */
	char **own;			/* the relay's own origins, normal form */
	size_t n_own;
	char **origins;			/* clients.allowed_origins, normal form */
	size_t n_origins;
	char **names;			/* listen.hostnames, the certificate's names, the
					 * listen address: lower case, no port */
	size_t n_names;
};

struct access_req {
	const char *method;			/* "GET", "OPTIONS", ... */
	const char *path;			/* request path, no query */
	const char *host;   size_t host_len;	/* Host header; NULL if absent */
	const char *origin; size_t origin_len;	/* Origin header; NULL if absent */
	const char *token;  size_t token_len;	/* ?access_token= (decoded) or Bearer; NULL if none */
	const char *cookie; size_t cookie_len;	/* Cookie header; NULL if absent */
	int websocket;				/* an upgrade request */
	int preflight;				/* OPTIONS with Access-Control-Request-Method */
};

struct access_verdict {
	int status;		/* 0: allowed; else the HTTP status to refuse with */
	const char *why;	/* static reason for the JSON body; never any part of a secret */
	const char *allow_origin;	/* non-NULL: answer with Access-Control-Allow-Origin: this (+ Vary: Origin) */
	char set_cookie[256];	/* non-empty: answer with Set-Cookie: this */
	char origin_buf[ACCESS_ORIGIN_MAX];	/* what allow_origin points to */
};

/* Builds a from cfg: auth.tokens and auth.tokens_file (each token is
 * registered with the logger as a secret), the relay's own origins, the
 * allowed origins and host names, and with listen.tls the DNS names and
 * addresses in the certificate's subjectAltName. Draws a new cookie key.
 * Returns 0, or -1 with the reason (FILE:LINE for a bad line) in err and
 * nothing left to free. */
int access_load(struct access *a, const struct config *cfg, char *err, size_t errlen);
/* Gives a (newly loaded) the cookie key of old, so cookies of tokens that
 * are still in a stay good across a reload and those of removed tokens do
 * not. Returns 0, or -1 out of memory (a keeps its own key: old cookies
 * are then refused, never wrongly accepted). */
int access_keep_key(struct access *a, const struct access *old);
/* Frees what a owns and wipes the digests and key. Accepts a zeroed struct. */
void access_free(struct access *a);
/* Decides one request; fills v. Returns v->status (0: serve it; for a
 * preflight, answer 204 with the CORS headers). */
int access_decide(const struct access *a, const struct access_req *q, struct access_verdict *v);

#endif
