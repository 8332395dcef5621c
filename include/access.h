/* access.h: subscriber tokens, origins and connection limits. */
#ifndef UWRELAY_ACCESS_H
#define UWRELAY_ACCESS_H

#include <stddef.h>
#include "config.h"

struct access {
	unsigned char (*digests)[32];	/* SHA-256 of each accepted token */
	size_t n;
};

/* Loads auth.tokens and auth.tokens_file. Every token is registered with
 * the logger as a secret. Returns 0, or -1 with the reason (FILE:LINE for
 * a bad line) in err. */
int access_load(struct access *a, const struct config *cfg, char *err, size_t errlen);
void access_free(struct access *a);
/* 1 if tok[0..len) is one of the tokens, in time independent of which. */
int access_token_ok(const struct access *a, const char *tok, size_t len);

#endif
