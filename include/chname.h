/* chname.h: UW channel names and the allowed-channel patterns, pure. */
#ifndef UWRELAY_CHNAME_H
#define UWRELAY_CHNAME_H

#include <stddef.h>

#define CHNAME_MAX 64		/* longest channel name accepted */
#define CHNAME_SUFFIX_MAX 32	/* longest part after ':' in a pattern match */

/* 1 if name is a plausible UW channel name: 1..CHNAME_MAX chars of
 * [a-z0-9_-], optionally followed by ':' and 1..CHNAME_SUFFIX_MAX chars of
 * [A-Za-z0-9._-]. Such names need no JSON escaping. */
int chname_valid(const char *name, size_t len);

/* 1 if pattern is a valid allowed_channels entry: a valid name, or a base
 * name followed by ":*". */
int chname_pattern_valid(const char *pattern);

/* 1 if the (valid) name matches one of the patterns: an exact name, or
 * "base:*" matching "base:" followed by a suffix. */
int chname_allowed(const char *const *patterns, size_t n, const char *name, size_t len);

#endif
