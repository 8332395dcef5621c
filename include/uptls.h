/* uptls.h: TLS for the upstream connection, done with OpenSSL over memory
 * BIOs: lws carries the encrypted bytes on a raw connection, this module
 * turns them into plaintext and back. No sockets here.
 *
 * Why not lws' TLS: lws 4.1.6 starts a raw client's TLS handshake before
 * the TCP connect has even begun (lib/core-net/connect.c: method "RAW"
 * calls lws_client_create_tls(wsi, &cce, 1) at once; the handshake fails
 * with EBADF, "tls start fail"), so a raw wss:// client cannot work there.
 * The cost of doing it here: each received byte is copied once more, into
 * the memory BIO. Certificates are always verified: the system store plus
 * upstream.ca_file, and the host name (or IP address) of the URL, which
 * must be in the certificate's subjectAltName (no CN fallback).
 * Renegotiation is refused. */
#ifndef UWRELAY_UPTLS_H
#define UWRELAY_UPTLS_H

#include <openssl/ssl.h>
#include <stddef.h>

struct uptls {
	SSL *ssl;		/* NULL: not started */
	BIO *rbio, *wbio;	/* owned by ssl */
	int done;		/* handshake complete */
};

/* A client context: TLS >= 1.2, peer verification on, the system trust
 * store and ca_file (if not empty). Returns NULL with a reason in err. */
SSL_CTX *uptls_ctx_new(const char *ca_file, char *err, size_t elen);
void uptls_ctx_free(SSL_CTX *ctx);

/* Starts a client handshake for host (SNI and certificate name check).
 * Returns 0, or -1 with err filled. */
int uptls_start(struct uptls *t, SSL_CTX *ctx, const char *host, char *err, size_t elen);
/* Frees the session; safe on a zeroed or freed struct. */
void uptls_free(struct uptls *t);

/* Hands over received ciphertext. Returns 0, or -1 out of memory. */
int uptls_feed(struct uptls *t, const void *in, size_t len);
/* Advances the handshake. Returns 1 when complete, 0 if it needs more
 * input, -1 on failure (why in err: a certificate problem is named). */
int uptls_handshake(struct uptls *t, char *err, size_t elen);
/* Decrypts into buf. Returns the byte count (> 0), 0 when nothing more is
 * available now, -1 on an error or the peer's close_notify (err says). */
long uptls_read(struct uptls *t, void *buf, size_t cap, char *err, size_t elen);
/* Encrypts len bytes into the outgoing queue. Returns 0 or -1. */
int uptls_write(struct uptls *t, const void *buf, size_t len);
/* Moves up to cap bytes of ciphertext waiting to be sent into buf;
 * returns how many (0: none). */
size_t uptls_take(struct uptls *t, void *buf, size_t cap);

#endif
