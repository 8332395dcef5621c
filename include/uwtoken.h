/* uwtoken.h: where the UW token comes from (uwtoken.c, no sockets). */
#ifndef UWRELAY_UWTOKEN_H
#define UWRELAY_UWTOKEN_H

#include <stddef.h>
#include "config.h"

/* Reads the token from UW_API_TOKEN (or UW_KEY), else from token_file (a
 * relative path, or none, looked up in $CREDENTIALS_DIRECTORY first),
 * trailing white space trimmed. Returns a malloc'd token (the caller
 * wipes and frees it), or NULL with the reason in why (no token, an
 * unreadable file, an empty token or one with a space or control byte). */
char *uwtoken_read(const struct config *cfg, char *why, size_t whylen);

#endif
