/* restbody.h: UW REST answers `{"data":[ROW, ...]}`, pure.
 *
 * Finds each row's exact text (to splice it into envelopes, as WebSocket
 * payloads are) and a row's identifying field, with json_scan: nothing is
 * copied or re-serialised. */
#ifndef UWRELAY_RESTBODY_H
#define UWRELAY_RESTBODY_H

#include <stddef.h>

struct span {
	const char *p;
	size_t len;
};

#define RESTBODY_MAX_ROWS 10000

/* Parses buf. On success returns 0 and a malloc'd array of row spans (all
 * objects, in answer order; free() it) in *rows, their count in *n. On
 * error returns -1 with a static reason in *err (nothing to free). */
int restbody_rows(const char *buf, size_t len, struct span **rows, size_t *n, const char **err);

/* The raw value of top-level member `field` of object row (a string's
 * content without quotes). Returns 0, or -1 if absent. */
int restbody_field(struct span row, const char *field, struct span *val);

#endif
