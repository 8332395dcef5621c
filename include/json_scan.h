/* json_scan.h: a validating JSON skipper that never allocates.
 *
 * It lets the upstream path find the byte span of a payload (to splice it
 * verbatim into the envelope) and reject malformed text in one pass, without
 * building a tree. Strings must be valid UTF-8 (a browser closes a socket on
 * a text frame that is not), numbers and literals must be RFC 8259 ones. */
#ifndef UWRELAY_JSON_SCAN_H
#define UWRELAY_JSON_SCAN_H

#include <stddef.h>

#define JSON_MAX_DEPTH 64

/* Skips whitespace. */
const char *json_ws(const char *p, const char *end);
/* Skips one JSON value starting at p (no leading whitespace). Returns the
 * pointer just past it, or NULL if the text is not a valid value. */
const char *json_skip_value(const char *p, const char *end);
/* Skips one string starting at p (which must be '"'). Sets *has_escape if
 * the string contains a backslash escape. Returns past the closing quote,
 * or NULL. */
const char *json_skip_string(const char *p, const char *end, int *has_escape);
/* 1 if the whole buffer is exactly one JSON value, with optional
 * surrounding whitespace. */
int json_valid(const char *p, size_t len);

#endif
