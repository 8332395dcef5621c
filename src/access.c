/* access.c: who may use the relay.
 *
 * UW data is licensed for personal use, so beyond loopback the relay wants
 * subscriber tokens (auth.tokens / auth.tokens_file), checked on every
 * WebSocket upgrade and API request as ?access_token= or a Bearer header.
 * Tokens are compared through their SHA-256 digests with CRYPTO_memcmp,
 * so the time taken says nothing about how much of a guess was right, nor
 * about the tokens' lengths. Origins and connection counts are checked
 * here too, before an upgrade is accepted. */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "access.h"
#include "relay.h"

void
access_free(struct access *a)
{
	for (size_t i = 0; i < a->n; i++)
		OPENSSL_cleanse(a->digests[i], SHA256_DIGEST_LENGTH);
	free(a->digests);
	a->digests = NULL;
	a->n = 0;
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

int
access_load(struct access *a, const struct config *cfg, char *err, size_t errlen)
{
	FILE *f;
	char line[512];
	int lineno = 0;

	memset(a, 0, sizeof(*a));
	for (size_t i = 0; i < cfg->n_auth_tokens; i++)
		if (add_token(a, cfg->auth_tokens[i], strlen(cfg->auth_tokens[i])))
			goto oom;
	if (!cfg->auth_tokens_file[0])
		return 0;
	f = fopen(cfg->auth_tokens_file, "r");
	if (!f) {
		snprintf(err, errlen, "auth.tokens_file %s: %s", cfg->auth_tokens_file, strerror(errno));
		access_free(a);
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
				 "without spaces, '&' or '#'", cfg->auth_tokens_file, lineno);
			OPENSSL_cleanse(line, sizeof(line));
			fclose(f);
			access_free(a);
			return -1;
		}
		if (add_token(a, line, n)) {
			fclose(f);
			goto oom;
		}
		OPENSSL_cleanse(line, sizeof(line));
	}
	fclose(f);
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	access_free(a);
	return -1;
}

int
access_token_ok(const struct access *a, const char *tok, size_t len)
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	int ok = 0;

	SHA256((const unsigned char *)tok, len, d);
	/* look at every entry whatever matched, to keep the time flat */
	for (size_t i = 0; i < a->n; i++)
		ok |= !CRYPTO_memcmp(d, a->digests[i], sizeof(d));
	OPENSSL_cleanse(d, sizeof(d));
	return ok;
}

int
access_check_req(struct relay *r, const char *tok, size_t tl, const struct httpreq *q,
		 int websocket, const char *path, const char **why)
{
	const struct config *c = &r->cfg;
	const char *origin;
	size_t ol;

	/* health checks and the page's own files carry no data: no token
	 * needed (the page passes ?access_token= on to its WebSocket) */
	if (!websocket && (!strcmp(path, "/healthz") || !strcmp(path, "/readyz") ||
			   assets_find(&r->static_files, path)))
		return 0;
	if (r->access.n && !(tok && access_token_ok(&r->access, tok, tl))) {
		r->auth_failures++;
		*why = "a valid access token is required (?access_token= or Authorization: Bearer)";
		return HTTP_STATUS_UNAUTHORIZED;
	}
	if (!websocket || !c->n_allowed_origins)
		return 0;
	origin = httpreq_header(q, "Origin", &ol);
	for (size_t i = 0; origin && i < c->n_allowed_origins; i++)
		if (strlen(c->allowed_origins[i]) == ol && !strncasecmp(origin, c->allowed_origins[i], ol))
			return 0;
	r->origin_refusals++;
	*why = "this Origin is not allowed";
	return HTTP_STATUS_FORBIDDEN;
}
