/* uptls.c: client TLS over memory BIOs (see uptls.h). */
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include "resolver.h"
#include "uptls.h"

static void
ssl_error(char *err, size_t elen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[200];

	if (e) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(err, elen, "%s: %s", what, buf);
	} else
		snprintf(err, elen, "%s", what);
	ERR_clear_error();
}

SSL_CTX *
uptls_ctx_new(const char *ca_file, char *err, size_t elen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx) {
		ssl_error(err, elen, "cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* a server's request to renegotiate is refused: nothing the link
	 * needs, and a known source of attacks (CVE-2009-3555 and since) */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (!SSL_CTX_set_default_verify_paths(ctx)) {
		ssl_error(err, elen, "cannot load the system trust store");
		goto bad;
	}
	if (ca_file && ca_file[0] && !SSL_CTX_load_verify_locations(ctx, ca_file, NULL)) {
		ssl_error(err, elen, "cannot load upstream.ca_file");
		goto bad;
	}
	/* the 101 we want is HTTP/1.1 */
	if (SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x08http/1.1", 9)) {
		ssl_error(err, elen, "cannot set ALPN");
		goto bad;
	}
	return ctx;
bad:
	SSL_CTX_free(ctx);
	return NULL;
}

void
uptls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

int
uptls_start(struct uptls *t, SSL_CTX *ctx, const char *host, char *err, size_t elen)
{
	X509_VERIFY_PARAM *vp;
	BIO *r, *w;

	memset(t, 0, sizeof(*t));
	t->ssl = SSL_new(ctx);
	r = BIO_new(BIO_s_mem());
	w = BIO_new(BIO_s_mem());
	if (!t->ssl || !r || !w) {
		BIO_free(r);
		BIO_free(w);
		ssl_error(err, elen, "out of memory starting TLS");
		goto bad;
	}
	SSL_set_bio(t->ssl, r, w);	/* ssl owns them now */
	t->rbio = r;
	t->wbio = w;
	vp = SSL_get0_param(t->ssl);
	/* the name must be in subjectAltName: OpenSSL would otherwise fall
	 * back to the subject's CN when the certificate has no DNS names,
	 * which RFC 6125 and every browser stopped accepting */
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
					    X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
	if (resolver_is_numeric(host)) {
		if (!X509_VERIFY_PARAM_set1_ip_asc(vp, host)) {
			ssl_error(err, elen, "cannot set the address to verify");
			goto bad;
		}
	} else if (!X509_VERIFY_PARAM_set1_host(vp, host, 0) ||
		   !SSL_set_tlsext_host_name(t->ssl, host)) {
		ssl_error(err, elen, "cannot set the host name to verify");
		goto bad;
	}
	SSL_set_connect_state(t->ssl);
	return 0;
bad:
	SSL_free(t->ssl);	/* NULL-safe; frees the BIOs once set */
	memset(t, 0, sizeof(*t));
	return -1;
}

void
uptls_free(struct uptls *t)
{
	if (t->ssl)
		SSL_free(t->ssl);
	memset(t, 0, sizeof(*t));
}

int
uptls_feed(struct uptls *t, const void *in, size_t len)
{
	size_t w;

	if (!len)
		return 0;
	return BIO_write_ex(t->rbio, in, len, &w) && w == len ? 0 : -1;
}

/* Explains a failed handshake or read. */
static void
explain(struct uptls *t, int rc, const char *what, char *err, size_t elen)
{
	long vr = SSL_get_verify_result(t->ssl);
	int e = SSL_get_error(t->ssl, rc);

	if (vr != X509_V_OK) {
		snprintf(err, elen, "%s: certificate verify failed: %s", what,
			 X509_verify_cert_error_string(vr));
		ERR_clear_error();
	} else if (e == SSL_ERROR_ZERO_RETURN)
		snprintf(err, elen, "%s: the server closed the TLS session", what);
	else if (e == SSL_ERROR_SYSCALL && !ERR_peek_error())
		snprintf(err, elen, "%s: unexpected end of the TLS stream", what);
	else
		ssl_error(err, elen, what);
}

int
uptls_handshake(struct uptls *t, char *err, size_t elen)
{
	int rc, e;

	if (t->done)
		return 1;
	rc = SSL_do_handshake(t->ssl);
	if (rc == 1) {
		t->done = 1;
		return 1;
	}
	e = SSL_get_error(t->ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	explain(t, rc, "TLS handshake failed", err, elen);
	return -1;
}

long
uptls_read(struct uptls *t, void *buf, size_t cap, char *err, size_t elen)
{
	size_t got = 0;
	int rc, e;

	rc = SSL_read_ex(t->ssl, buf, cap, &got);
	if (rc == 1)
		return (long)got;
	e = SSL_get_error(t->ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	explain(t, rc, "TLS read failed", err, elen);
	return -1;
}

int
uptls_write(struct uptls *t, const void *buf, size_t len)
{
	size_t w = 0;

	/* memory BIOs grow: a write is taken whole or fails */
	return SSL_write_ex(t->ssl, buf, len, &w) == 1 && w == len ? 0 : -1;
}

size_t
uptls_take(struct uptls *t, void *buf, size_t cap)
{
	size_t got = 0;

	if (!t->ssl || !BIO_ctrl_pending(t->wbio))
		return 0;
	if (BIO_read_ex(t->wbio, buf, cap, &got) != 1)
		return 0;
	return got;
}
