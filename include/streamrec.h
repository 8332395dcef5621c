/* streamrec.h: one upstream frame as kept in a Redis Stream, pure.
 *
 * In a cluster (cluster.c) the ingest relay appends every frame to the
 * stream <prefix>stream:<channel> with the entry id "<seq>-0" and the
 * fields d (the payload text, verbatim), t (ms since the epoch when the
 * ingest received it) and e (the cluster epoch). Because the id carries the
 * seq, every edge puts the same seq in the same frame's envelope, and a
 * browser can resume on any edge. This module reads such entries out of
 * hiredis replies and holds the Lua scripts that write them. */
#ifndef UWRELAY_STREAMREC_H
#define UWRELAY_STREAMREC_H

#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>

struct streamrec {
	uint64_t seq;
	const char *payload;	/* points into the reply */
	size_t payload_len;
	int64_t t_ms;
	char epoch[17];		/* "" when absent or malformed */
};

/* Parses "123-0" (any sequence part) into 123. Returns 0, or -1. */
int streamrec_id_seq(const char *id, size_t len, uint64_t *seq);
/* Reads one entry, [id, [field, value, ...]], of an XRANGE/XREAD reply.
 * Returns 0, or -1 (with a reason in *why) if it is not a relay record. */
int streamrec_parse(const redisReply *entry, struct streamrec *out, const char **why);

/* The scripts (Lua, run atomically by Redis); see streamrec.c for their
 * keys and arguments. */
extern const char STREAMREC_LUA_APPEND[];
extern const char STREAMREC_LUA_RENEW[];
extern const char STREAMREC_LUA_RELEASE[];
extern const char STREAMREC_LUA_WANTED[];
extern const char STREAMREC_LUA_INTEREST[];
/* The SHA-1 of a script as 40 hex digits, the name EVALSHA wants. */
void streamrec_sha1(const char *script, char out[41]);

#endif
