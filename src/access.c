/* access.c: who may talk to the relay.
 *
 * UW data is licensed for the owner's personal use: for the owner's own
 * pages and tools, not for whatever web site the owner happens to visit.
 * Every request passes four rules, in this order:
 *
 * 1. Host (DNS rebinding). A page on evil.example whose name is made to
 *    resolve to 127.0.0.1 talks to the relay as "evil.example": its
 *    requests are same-origin for the browser, so only the Host header
 *    gives it away. Host must be a loopback name or address (localhost,
 *    127.x.x.x, [::1]), a name the relay knows (listen.hostnames, the TLS
 *    certificate's names, the listen address), or, on a listener beyond
 *    loopback, any IP address (a rebinding attack always uses a name). Any
 *    port is fine: an ssh tunnel changes it. No Host (HTTP/1.0 tools) is
 *    not an attack. Else 421. *.localhost is not built in: list it.
 * 2. Origin (cross-site WebSocket hijacking, CORS). Browsers send Origin
 *    on WebSocket upgrades and cross-origin requests. Accepted: none at
 *    all (curl, scripts, same-origin GETs), the relay's own origins, the
 *    ones in clients.allowed_origins, or any with "*". Else 403.
 * 3. Preflight: an allowed origin gets 204 on a CORS path, others 403.
 * 4. Token: with auth.tokens set, everything but /healthz and /readyz
 *    needs a token (?access_token= or Bearer) or the cookie a token sets.
 *
 * Tokens are compared through their SHA-256 digests with CRYPTO_memcmp,
 * looking at every entry, so the time taken says nothing about how much
 * of a guess was right nor about the tokens' lengths. The cookie never
 * holds the token: it holds HMAC-SHA256(key, digest) with a key drawn at
 * start, so it is worthless elsewhere, dies with the process, and a reload
 * that removes the token removes the only digest it can match. */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "access.h"
#include "hexdigit.h"
#include "log.h"

static void
strs_free(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

void
access_free(struct access *a)
{
	for (size_t i = 0; i < a->n; i++)
		OPENSSL_cleanse(a->digests[i], SHA256_DIGEST_LENGTH);
	free(a->digests);
	free(a->cookies);
	strs_free(a->own, a->n_own);
	strs_free(a->origins, a->n_origins);
	strs_free(a->names, a->n_names);
	OPENSSL_cleanse(a, sizeof(*a));
}

/* Appends a copy of s (lower-cased) to the list unless it is there. */
static int
strs_add(char ***l, size_t *n, const char *s)
{
	char **nl, *d;

	for (size_t i = 0; i < *n; i++)
		if (!strcasecmp((*l)[i], s))
			return 0;
	d = strdup(s);
	nl = d ? realloc(*l, (*n + 1) * sizeof(*nl)) : NULL;
	if (!nl) {
		free(d);
		return -1;
	}
	for (char *c = d; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	nl[(*n)++] = d;
	*l = nl;
	return 0;
}

static int
add_token(struct access *a, const char *tok, size_t len)
{
	unsigned char (*nd)[32] = realloc(a->digests, (a->n + 1) * sizeof(*nd));

	if (!nd)
		return -1;
	a->digests = nd;
	SHA256((const unsigned char *)tok, len, a->digests[a->n++]);
	log_add_secret_n(tok, len);
	return 0;
}

/* The cookie value of each token under key; a's key and values change
 * only on success. */
static int
make_cookies(struct access *a, const unsigned char key[32])
{
	unsigned char (*c)[32] = NULL;

	if (a->n && !(c = calloc(a->n, sizeof(*c))))
		return -1;
	for (size_t i = 0; i < a->n; i++) {
		unsigned int len = 0;

		if (!HMAC(EVP_sha256(), key, 32, a->digests[i], SHA256_DIGEST_LENGTH, c[i], &len) ||
		    len != 32) {
			free(c);
			return -1;
		}
	}
	free(a->cookies);
	a->cookies = c;
	if (key != a->cookie_key)
		memcpy(a->cookie_key, key, sizeof(a->cookie_key));
	return 0;
}

int
access_keep_key(struct access *a, const struct access *old)
{
	return make_cookies(a, old->cookie_key);
}

static int
load_tokens_file(struct access *a, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int lineno = 0;

	if (!f) {
		snprintf(err, errlen, "auth.tokens_file %s: %s", path, strerror(errno));
		return -1;
	}
	/* one token per line; blank lines and lines starting with # ignored */
	while (fgets(line, sizeof(line), f)) {
		size_t n = strcspn(line, "\r\n");
		int ok = n >= 16 && n <= 256;

		lineno++;
		line[n] = '\0';
		if (!n || line[0] == '#')
			continue;
		for (size_t i = 0; ok && i < n; i++)
			if ((unsigned char)line[i] <= ' ' || (unsigned char)line[i] >= 0x7f ||
			    line[i] == '&' || line[i] == '#')
				ok = 0;
		if (!ok) {
			snprintf(err, errlen, "%s:%d: a token must be 16 to 256 printable characters "
				 "without spaces, '&' or '#'", path, lineno);
			OPENSSL_cleanse(line, sizeof(line));
			fclose(f);
			return -1;
		}
		if (add_token(a, line, n)) {
			OPENSSL_cleanse(line, sizeof(line));
			fclose(f);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		OPENSSL_cleanse(line, sizeof(line));
	}
	fclose(f);
	return 0;
}

/* A host as it appears in an origin or a Host header: IPv6 bracketed. */
static void
host_form(const char *addr, char *out, size_t cap)
{
	snprintf(out, cap, strchr(addr, ':') ? "[%s]" : "%s", addr);
}

/* The DNS names and IP addresses in the certificate's subjectAltName. */
static int
load_cert_names(struct access *a, const char *path, char *err, size_t errlen)
{
	BIO *b = BIO_new_file(path, "r");
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	GENERAL_NAMES *sans;
	int rc = 0;

	BIO_free(b);
	if (!x) {
		snprintf(err, errlen, "listen.tls.cert %s: cannot read a PEM certificate", path);
		return -1;
	}
	sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; !rc && sans && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		char ip[INET6_ADDRSTRLEN], name[300];

		if (g->type == GEN_DNS) {
			const char *s = (const char *)ASN1_STRING_get0_data(g->d.dNSName);
			size_t len = (size_t)ASN1_STRING_length(g->d.dNSName);

			/* a wildcard name is not a host the relay can be asked by */
			if (strlen(s) == len && config_host_valid(s, len))
				rc = strs_add(&a->names, &a->n_names, s);
		} else if (g->type == GEN_IPADD) {
			int len = ASN1_STRING_length(g->d.iPAddress);
			const unsigned char *p = ASN1_STRING_get0_data(g->d.iPAddress);

			if ((len == 4 && inet_ntop(AF_INET, p, ip, sizeof(ip))) ||
			    (len == 16 && inet_ntop(AF_INET6, p, ip, sizeof(ip)))) {
				host_form(ip, name, sizeof(name));
				rc = strs_add(&a->names, &a->n_names, name);
			}
		}
	}
	GENERAL_NAMES_free(sans);
	X509_free(x);
	if (rc)
		snprintf(err, errlen, "out of memory");
	return rc;
}

static int
wildcard_addr(const char *addr)
{
	return !strcmp(addr, "0.0.0.0") || !strcmp(addr, "::");
}

/* The host names the relay answers to, and its own origins: each of them
 * and the loopback names, on the listener's scheme and port. */
static int
load_names(struct access *a, const struct config *cfg, char *err, size_t errlen)
{
	static const char *const loopback[] = { "localhost", "127.0.0.1", "[::1]" };
	char host[300], origin[ACCESS_ORIGIN_MAX], norm[ACCESS_ORIGIN_MAX];

	for (size_t i = 0; i < cfg->n_listen_hostnames; i++)
		if (strs_add(&a->names, &a->n_names, cfg->listen_hostnames[i]))
			goto oom;
	if (a->tls && load_cert_names(a, cfg->listen_tls_cert, err, errlen))
		return -1;
	if (!wildcard_addr(cfg->listen_address)) {
		host_form(cfg->listen_address, host, sizeof(host));
		if (strs_add(&a->names, &a->n_names, host))
			goto oom;
	}
	for (size_t i = 0; i < 3 + a->n_names; i++) {
		const char *h = i < 3 ? loopback[i] : a->names[i - 3];

		snprintf(origin, sizeof(origin), "%s://%s:%lld", a->tls ? "https" : "http", h,
			 (long long)cfg->listen_port);
		if (!config_origin_normal(origin, strlen(origin), norm, sizeof(norm)) &&
		    strs_add(&a->own, &a->n_own, norm))
			goto oom;
	}
	for (size_t i = 0; i < cfg->n_allowed_origins; i++) {
		const char *o = cfg->allowed_origins[i];

		if (!strcmp(o, "*"))
			a->any_origin = 1;
		else if (config_origin_normal(o, strlen(o), norm, sizeof(norm))) {
			snprintf(err, errlen, "clients.allowed_origins: '%s' is not an origin", o);
			return -1;
		} else if (strs_add(&a->origins, &a->n_origins, norm))
			goto oom;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

int
access_load(struct access *a, const struct config *cfg, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	a->tls = cfg->listen_tls_cert && cfg->listen_tls_cert[0];
	a->loopback = config_addr_is_loopback(cfg->listen_address);
	if (RAND_bytes(a->cookie_key, sizeof(a->cookie_key)) != 1) {
		snprintf(err, errlen, "cannot draw a random cookie key");
		goto bad;
	}
	for (size_t i = 0; i < cfg->n_auth_tokens; i++)
		if (add_token(a, cfg->auth_tokens[i], strlen(cfg->auth_tokens[i]))) {
			snprintf(err, errlen, "out of memory");
			goto bad;
		}
	if (cfg->auth_tokens_file && cfg->auth_tokens_file[0] &&
	    load_tokens_file(a, cfg->auth_tokens_file, err, errlen))
		goto bad;
	if (make_cookies(a, a->cookie_key)) {
		snprintf(err, errlen, "out of memory");
		goto bad;
	}
	if (load_names(a, cfg, err, errlen))
		goto bad;
	return 0;
bad:
	access_free(a);
	return -1;
}

/* The index of the token whose digest is d, or -1; looks at every entry
 * whatever matched, to keep the time flat. */
static long
find_digest(const unsigned char (*list)[32], size_t n, const unsigned char *d)
{
	size_t idx = 0;
	int found = 0;

	for (size_t i = 0; i < n; i++) {
		size_t eq = (size_t)!CRYPTO_memcmp(d, list[i], 32);

		found |= (int)eq;
		idx |= i & (0 - eq);
	}
	return found ? (long)idx : -1;
}

/* The index of the token tok[0..len) is, or -1; flat in time (find_digest). */
static long
token_index(const struct access *a, const char *tok, size_t len)
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	long i;

	SHA256((const unsigned char *)tok, len, d);
	i = find_digest((const unsigned char (*)[32])a->digests, a->n, d);
	OPENSSL_cleanse(d, sizeof(d));
	return i;
}

/* ---- the decision ---- */

/* 1 if one of the ACCESS_COOKIE_NAME values in the Cookie header matches a
 * token's cookie. */
static int
cookie_ok(const struct access *a, const char *c, size_t len)
{
	static const char name[] = ACCESS_COOKIE_NAME "=";
	const char *end = c + len;
	int ok = 0;

	while (c < end) {
		const char *semi = memchr(c, ';', (size_t)(end - c)), *pe = semi ? semi : end;
		unsigned char mac[32];
		int good = 1;

		while (c < pe && (*c == ' ' || *c == '\t'))
			c++;
		if ((size_t)(pe - c) >= sizeof(name) - 1 + 64 && !memcmp(c, name, sizeof(name) - 1)) {
			const char *h = c + sizeof(name) - 1;
			const char *he = pe;

			while (he > h && (he[-1] == ' ' || he[-1] == '\t'))
				he--;
			good = he - h == 64;
			for (int i = 0; good && i < 32; i++) {
				int hi = hexdigit_value(h[2 * i]), lo = hexdigit_value(h[2 * i + 1]);

				/* hexdigit_value's -1 must not be shifted: undefined, and
				 * a sanitized build aborted on a cookie of 'z's */
				good = hi >= 0 && lo >= 0;
				if (good)
					mac[i] = (unsigned char)(hi << 4 | lo);
			}
			if (good)
				ok |= find_digest((const unsigned char (*)[32])a->cookies, a->n, mac) >= 0;
			OPENSSL_cleanse(mac, sizeof(mac));
		}
		c = pe + 1;
	}
	return ok;
}

static int
is_loopback_host(const char *h, size_t len)
{
	char buf[16];
	unsigned char b[4];

	if ((len == 9 && !strncasecmp(h, "localhost", 9)) || (len == 5 && !memcmp(h, "[::1]", 5)))
		return 1;
	if (len >= sizeof(buf))
		return 0;
	memcpy(buf, h, len);
	buf[len] = '\0';
	return inet_pton(AF_INET, buf, b) == 1 && b[0] == 127;
}

static int
is_ip_literal(const char *h, size_t len)
{
	char buf[16];
	unsigned char b[4];

	if (h[0] == '[')
		return 1;	/* config_host_valid checked it is an IPv6 address */
	if (len >= sizeof(buf))
		return 0;
	memcpy(buf, h, len);
	buf[len] = '\0';
	return inet_pton(AF_INET, buf, b) == 1;
}

static int
name_known(const struct access *a, const char *h, size_t len)
{
	for (size_t i = 0; i < a->n_names; i++)
		if (strlen(a->names[i]) == len && !strncasecmp(a->names[i], h, len))
			return 1;
	return 0;
}

/* 0 if the Host header is allowed, else the status to refuse with. */
static int
host_check(const struct access *a, const char *h, size_t len)
{
	size_t hl = len;

	if (!h || !len)
		return 0;
	if (h[0] == '[') {
		const char *rb = memchr(h, ']', len);

		hl = rb ? (size_t)(rb - h) + 1 : len;
	} else {
		const char *colon = memchr(h, ':', len);

		if (colon)
			hl = (size_t)(colon - h);
	}
	if (hl < len) {		/* ":PORT" */
		if (h[hl] != ':' || hl + 1 == len || len - hl > 6)
			return 400;
		for (size_t i = hl + 1; i < len; i++)
			if (h[i] < '0' || h[i] > '9')
				return 400;
	}
	if (!config_host_valid(h, hl))
		return 400;
	if (is_loopback_host(h, hl) || name_known(a, h, hl) || (!a->loopback && is_ip_literal(h, hl)))
		return 0;
	return 421;
}

enum origin_kind { ORIGIN_NONE, ORIGIN_OWN, ORIGIN_LISTED, ORIGIN_REFUSED };

static int
in_list(char **l, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(l[i], s))
			return 1;
	return 0;
}

/* What the Origin is; a listed one's normal form goes to buf ("" if it has
 * none, like "null" under "*"). */
static enum origin_kind
origin_kind(const struct access *a, const struct access_req *q, char *buf, size_t cap)
{
	buf[0] = '\0';
	if (!q->origin)
		return ORIGIN_NONE;
	if (config_origin_normal(q->origin, q->origin_len, buf, cap)) {
		buf[0] = '\0';
		/* "null" (a sandboxed frame, a file:// page) is some origin */
		if (q->origin_len == 4 && !memcmp(q->origin, "null", 4) && a->any_origin)
			snprintf(buf, cap, "null");
		return a->any_origin ? ORIGIN_LISTED : ORIGIN_REFUSED;
	}
	if (in_list(a->own, a->n_own, buf))
		return ORIGIN_OWN;
	if (a->any_origin || in_list(a->origins, a->n_origins, buf))
		return ORIGIN_LISTED;
	return ORIGIN_REFUSED;
}

/* Paths whose answers a listed origin may read (CORS). */
static int
cors_path(const char *p)
{
	return !strncmp(p, "/api/", 5) || !strcmp(p, "/metrics") || !strcmp(p, "/healthz") ||
	       !strcmp(p, "/readyz") || !strcmp(p, "/uwrelay.js");
}

static int
refuse(struct access_verdict *v, int status, const char *why)
{
	/* allow_origin stays: a listed origin may read why it was refused */
	v->status = status;
	v->why = why;
	v->set_cookie[0] = '\0';
	return status;
}

int
access_decide(const struct access *a, const struct access_req *q, struct access_verdict *v)
{
	const char *path = q->path ? q->path : "";
	enum origin_kind ok;
	int st;

	memset(v, 0, sizeof(*v));
	st = host_check(a, q->host, q->host ? q->host_len : 0);
	if (st == 400)
		return refuse(v, 400, "the Host header is not a valid host[:port]");
	if (st)
		return refuse(v, 421, "this Host is not a name of the relay: add it to listen.hostnames "
			      "to allow it");
	ok = origin_kind(a, q, v->origin_buf, sizeof(v->origin_buf));
	if (ok == ORIGIN_REFUSED)
		return refuse(v, 403, "this Origin is not allowed: add it to clients.allowed_origins "
			      "to allow it");
	if (ok == ORIGIN_LISTED && !q->websocket && cors_path(path) && v->origin_buf[0])
		v->allow_origin = v->origin_buf;
	if (q->preflight) {
		/* browsers send no credentials on a preflight: no token needed */
		if (ok == ORIGIN_NONE)
			return refuse(v, 403, "a preflight needs an Origin");
		if (!cors_path(path))
			return refuse(v, 403, "this path is not served to other origins");
		return 0;
	}
	if (!strcmp(path, "/healthz") || !strcmp(path, "/readyz") || !a->n)
		return 0;
	if (q->token) {
		long i = token_index(a, q->token, q->token_len);

		if (i >= 0) {
			/* the page's own files follow with the cookie, not the token */
			if (!q->websocket) {
				char *p = v->set_cookie;

				p += sprintf(p, "%s=", ACCESS_COOKIE_NAME);
				for (int k = 0; k < 32; k++)
					p += sprintf(p, "%02x", a->cookies[i][k]);
				sprintf(p, "; Path=/; HttpOnly; SameSite=Strict%s", a->tls ? "; Secure" : "");
			}
			return 0;
		}
	}
	if (q->cookie && cookie_ok(a, q->cookie, q->cookie_len))
		return 0;
	return refuse(v, 401, "a valid access token is required (?access_token=, Authorization: "
		      "Bearer, or the cookie set by either)");
}
