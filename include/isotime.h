/* isotime.h: ISO 8601 times as the history API and --replay take them, pure. */
#ifndef UWRELAY_ISOTIME_H
#define UWRELAY_ISOTIME_H

#include <stdint.h>

/* Parses YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|+HH:MM|-HH:MM] (no zone: UTC;
 * ' ' may stand for 'T'; digits beyond milliseconds are cut) into ms since
 * 1970 UTC. Returns 0, or -1 if s is not such a time (or out of range). */
int isotime_parse(const char *s, int64_t *ms);

#endif
