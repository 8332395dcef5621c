/* tapedb.h: the tape's SQLite file (schema in README "Your tape").
 *
 * Plain calls on one connection, no threads, no locks: tape.c owns the
 * thread that calls them. Every function that can fail returns an SQLite
 * result code (SQLITE_OK on success) and leaves a sentence in d->err. */
#ifndef UWRELAY_TAPEDB_H
#define UWRELAY_TAPEDB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include "tapebuf.h"

struct tapedb {
	/* set by the caller before tapedb_open */
	const char *path;
	char *const *names;	/* the taped channels, index = tapebuf_rec.chan */
	size_t n;
	char epoch[17];		/* in: this run's fresh epoch; out (at start): the one to use */
	uint64_t *last_seq;	/* out (at start): per channel, the last seq the tape holds */
	/* the connection, NULL while closed */
	sqlite3 *db;
	sqlite3_stmt *ins, *meta_set;
	char err[256];		/* what the last failure was */
};

/* Opens d->path (created if absent; a file that is not SQLite or has
 * another schema is left untouched and refused), WAL, the schema, and
 * marks the file not cleanly closed. at_start: also picks the epoch (the
 * file's if it was closed cleanly, else d->epoch, said in the log) and
 * fills d->last_seq. Returns 0, or -1 with d->err set and d closed. */
int tapedb_open(struct tapedb *d, int at_start);
/* Stores every record of q in one transaction, and each channel's highest
 * seq as its high-water mark in meta. *bytes gets the payload bytes,
 * *newest the newest receive time (if newer). Returns an SQLite code; on
 * error nothing of q is stored. */
int tapedb_write(struct tapedb *d, const struct tapebuf *q, uint64_t *bytes, int64_t *newest);
/* Deletes the oldest frames older than max_age_s or beyond max_bytes of
 * pages in use (to 90 % of it), 0 = no limit, in small transactions; then
 * measures the file. Returns an SQLite code. */
int tapedb_retention(struct tapedb *d, int64_t max_age_s, int64_t max_bytes, uint64_t *deleted,
		     uint64_t *file_bytes, uint64_t *used_bytes);
/* With given (per channel, the last seq handed out; may be NULL): writes
 * those as high-water marks and the clean mark if each is in the file.
 * Then closes. Accepts a closed d. */
void tapedb_close(struct tapedb *d, const uint64_t *given);

#endif
