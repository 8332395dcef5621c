/* tapedb.c: the tape's SQLite file (see tapedb.h): schema, batches,
 * retention, the clean-close mark. No threads and no locks here: tape.c
 * calls it from its writer thread (and once from the loop at start). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "log.h"
#include "tapedb.h"

#define DELETE_BATCH 2000		/* frames per retention transaction */

static const char SCHEMA[] =
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS frames ("
	" id INTEGER PRIMARY KEY, channel TEXT NOT NULL, epoch TEXT NOT NULL,"
	" seq INTEGER NOT NULL, ts INTEGER NOT NULL, payload TEXT NOT NULL);"
	"CREATE UNIQUE INDEX IF NOT EXISTS frames_seq ON frames(channel, epoch, seq);"
	"CREATE INDEX IF NOT EXISTS frames_ts ON frames(channel, ts);";

static int
fail(struct tapedb *d, const char *what, int rc)
{
	snprintf(d->err, sizeof(d->err), "%s: %s", what,
		 d->db && rc != SQLITE_CANTOPEN ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc));
	return rc;
}

static void
db_close(struct tapedb *d)
{
	sqlite3_finalize(d->ins);
	sqlite3_finalize(d->meta_set);
	d->ins = d->meta_set = NULL;
	if (d->db)
		sqlite3_close(d->db);
	d->db = NULL;
}

/* Runs sql with no result rows. Returns an SQLite code. */
static int
exec(struct tapedb *d, const char *sql)
{
	return sqlite3_exec(d->db, sql, NULL, NULL, NULL);
}

/* The text of meta[key] into out ("" if absent). Returns an SQLite code. */
static int
meta_get(struct tapedb *d, const char *key, char *out, size_t cap)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(d->db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL);

	out[0] = '\0';
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int
meta_put(struct tapedb *d, const char *key, const char *value)
{
	sqlite3_reset(d->meta_set);
	sqlite3_bind_text(d->meta_set, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(d->meta_set, 2, value, -1, SQLITE_TRANSIENT);
	return sqlite3_step(d->meta_set) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(d->db);
}

static int
epoch_valid(const char *e)
{
	if (strlen(e) != 16)
		return 0;
	for (; *e; e++)
		if (!((*e >= '0' && *e <= '9') || (*e >= 'a' && *e <= 'f')))
			return 0;
	return 1;
}

/* The highest seq the tape holds for channel i in d->epoch: the larger of
 * the frames' and the high-water mark kept in meta (frames may have been
 * deleted by retention, and seqs must still not go back). */
static int
read_last_seq(struct tapedb *d, size_t i)
{
	sqlite3_stmt *st;
	char key[300], v[32];
	uint64_t m = 0;
	int rc = sqlite3_prepare_v2(d->db, "SELECT MAX(seq) FROM frames WHERE channel = ? AND epoch = ?",
				    -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, d->names[i], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, d->epoch, 16, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER)
		m = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return rc;
	snprintf(key, sizeof(key), "seq:%s", d->names[i]);
	if ((rc = meta_get(d, key, v, sizeof(v))) != SQLITE_OK)
		return rc;
	if (v[0] && strtoull(v, NULL, 10) > m)
		m = strtoull(v, NULL, 10);
	d->last_seq[i] = m;
	return SQLITE_OK;
}

/* Opens the file, makes the schema, decides the epoch. at_start: the taped
 * channels' epoch and seqs are still to be chosen from the file. Returns 0,
 * or -1 with d->err set and the file left as it was. */
static int
db_open(struct tapedb *d, int at_start)
{
	sqlite3_stmt *st = NULL;
	char v[64], clean[8];
	int rc;

	rc = sqlite3_open_v2(d->path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		fail(d, "cannot open the tape", rc);
		goto bad;
	}
	sqlite3_extended_result_codes(d->db, 0);
	sqlite3_busy_timeout(d->db, 5000);
	if (sqlite3_db_readonly(d->db, "main") == 1) {
		rc = SQLITE_READONLY;
		fail(d, "the tape file is read-only", rc);
		goto bad;
	}
	/* the first read of the file: a file that is not SQLite fails here,
	 * before anything is written to it. 8 KiB pages (a new file only)
	 * hold seven 1 KB frames where 4 KiB ones hold three: 15 % less file */
	rc = sqlite3_exec(d->db, "PRAGMA page_size=8192", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(d->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(st, 0), "wal")) {
		if (rc == SQLITE_ROW)
			rc = SQLITE_CANTOPEN;	/* WAL refused: no shared memory, a read-only folder */
		fail(d, rc == SQLITE_NOTADB ? "the tape file is not an SQLite database (left untouched)"
						 : "cannot use the tape file", rc);
		goto bad;
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = exec(d, "PRAGMA synchronous=NORMAL")) != SQLITE_OK ||
	    (rc = exec(d, "PRAGMA journal_size_limit=" "67108864")) != SQLITE_OK ||
	    /* a checkpoint (and its fsyncs) every 32 MiB of WAL, not every 4 MiB */
	    (rc = exec(d, "PRAGMA wal_autocheckpoint=4096")) != SQLITE_OK ||
	    (rc = exec(d, SCHEMA)) != SQLITE_OK) {
		fail(d, "cannot create the tape's tables", rc);
		goto bad;
	}
	rc = sqlite3_prepare_v2(d->db, "INSERT OR IGNORE INTO frames (channel, epoch, seq, ts, payload) "
				"VALUES (?, ?, ?, ?, ?)", -1, &d->ins, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(d->db, "INSERT INTO meta (key, value) VALUES (?, ?) "
					"ON CONFLICT(key) DO UPDATE SET value = excluded.value",
					-1, &d->meta_set, NULL);
	if (rc != SQLITE_OK) {
		fail(d, "cannot prepare the tape's statements", rc);
		goto bad;
	}
	if ((rc = meta_get(d, "schema", v, sizeof(v))) != SQLITE_OK) {
		fail(d, "cannot read the tape's meta table", rc);
		goto bad;
	}
	if (v[0] && strcmp(v, "1")) {
		rc = SQLITE_MISMATCH;
		snprintf(d->err, sizeof(d->err),
			 "the tape has schema %.16s, this relay writes schema 1 (left untouched)", v);
		goto bad;
	}
	if (at_start) {
		if ((rc = meta_get(d, "epoch", v, sizeof(v))) != SQLITE_OK ||
		    (rc = meta_get(d, "clean", clean, sizeof(clean))) != SQLITE_OK) {
			fail(d, "cannot read the tape's meta table", rc);
			goto bad;
		}
		if (epoch_valid(v) && !strcmp(clean, "1"))
			memcpy(d->epoch, v, 17);
		else if (epoch_valid(v))
			log_msg(LOG_WARN, "tape: %s was not closed cleanly (a crash or SIGKILL): up to the "
				"last batch of frames may be missing from it, so the taped channels start a new "
				"epoch %s (the frames of epoch %s stay in the tape)", d->path, d->epoch, v);
		for (size_t i = 0; i < d->n; i++)
			if ((rc = read_last_seq(d, i)) != SQLITE_OK) {
				fail(d, "cannot read the tape's last seqs", rc);
				goto bad;
			}
	}
	/* until tape_close says otherwise, the file is not cleanly closed */
	if ((rc = exec(d, "BEGIN IMMEDIATE")) != SQLITE_OK ||
	    (rc = meta_put(d, "schema", "1")) != SQLITE_OK ||
	    (rc = meta_put(d, "epoch", d->epoch)) != SQLITE_OK ||
	    (rc = meta_put(d, "clean", "0")) != SQLITE_OK ||
	    (rc = exec(d, "COMMIT")) != SQLITE_OK) {
		fail(d, "cannot write to the tape", rc);
		goto bad;
	}
	return 0;
bad:
	sqlite3_finalize(st);
	db_close(d);
	return -1;
}

/* Stores one buffer in one transaction, with each channel's highest seq
 * as its high-water mark. Returns an SQLite code; on error nothing of it
 * is stored. */
static int
write_batch(struct tapedb *d, const struct tapebuf *q, uint64_t *bytes, int64_t *newest)
{
	const struct tapebuf_rec *rec;
	const char *p;
	size_t off = 0;
	uint64_t *hi = calloc(d->n, sizeof(*hi));
	int rc;

	if (!hi) {
		snprintf(d->err, sizeof(d->err), "cannot store frames: out of memory");
		return SQLITE_NOMEM;
	}
	*bytes = 0;
	if ((rc = exec(d, "BEGIN IMMEDIATE")) != SQLITE_OK) {
		fail(d, "cannot store frames", rc);
		goto out;
	}
	while ((rec = tapebuf_next(q, &off, &p))) {
		sqlite3_reset(d->ins);
		sqlite3_bind_text(d->ins, 1, d->names[rec->chan], -1, SQLITE_STATIC);
		sqlite3_bind_text(d->ins, 2, rec->epoch, 16, SQLITE_STATIC);
		sqlite3_bind_int64(d->ins, 3, (sqlite3_int64)rec->seq);
		sqlite3_bind_int64(d->ins, 4, rec->ts);
		sqlite3_bind_text(d->ins, 5, p, (int)rec->len, SQLITE_STATIC);
		if ((rc = sqlite3_step(d->ins)) != SQLITE_DONE)
			goto rollback;
		*bytes += rec->len;
		if (rec->seq > hi[rec->chan])
			hi[rec->chan] = rec->seq;
		if (rec->ts > *newest)
			*newest = rec->ts;
	}
	sqlite3_reset(d->ins);
	for (size_t i = 0; i < d->n; i++) {
		char key[300], v[24];

		if (!hi[i])
			continue;
		snprintf(key, sizeof(key), "seq:%s", d->names[i]);
		snprintf(v, sizeof(v), "%llu", (unsigned long long)hi[i]);
		if ((rc = meta_put(d, key, v)) != SQLITE_OK)
			goto rollback;
	}
	rc = exec(d, "COMMIT");
	if (rc == SQLITE_OK)
		goto out;
rollback:
	rc = rc == SQLITE_DONE ? SQLITE_ERROR : rc;
	fail(d, "cannot store frames", rc);	/* before the rollback resets the message */
	sqlite3_reset(d->ins);
	if (!sqlite3_get_autocommit(d->db))
		exec(d, "ROLLBACK");
out:
	free(hi);
	return rc;
}

static int64_t
query_int(struct tapedb *d, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Deletes the `count` (at most DELETE_BATCH) oldest frames, those older than
 * before_ts only if before_ts >= 0. Returns how many went, or -1 on error. */
static int64_t
delete_oldest(struct tapedb *d, int64_t count, int64_t before_ts)
{
	sqlite3_stmt *st;
	int64_t first = query_int(d, "SELECT MIN(id) FROM frames");
	int rc;

	if (first < 0)
		return 0;
	rc = sqlite3_prepare_v2(d->db, before_ts >= 0 ? "DELETE FROM frames WHERE id < ? AND ts < ?" :
							 "DELETE FROM frames WHERE id < ?", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return -1;
	if (count < 1 || count > DELETE_BATCH)
		count = DELETE_BATCH;
	sqlite3_bind_int64(st, 1, first + count);
	if (before_ts >= 0)
		sqlite3_bind_int64(st, 2, before_ts);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		fail(d, "retention: cannot delete old frames", rc);
		return -1;
	}
	return sqlite3_changes(d->db);
}

/* Size of the file and of the pages in use (the rest are free, reused by
 * later inserts). */
static void
measure(struct tapedb *d, uint64_t *file, uint64_t *used)
{
	int64_t pc = query_int(d, "PRAGMA page_count"), fl = query_int(d, "PRAGMA freelist_count"),
		ps = query_int(d, "PRAGMA page_size");

	*file = pc > 0 && ps > 0 ? (uint64_t)(pc * ps) : 0;
	*used = pc > 0 && ps > 0 && fl >= 0 ? (uint64_t)((pc - fl) * ps) : *file;
}

/* Retention, oldest first, in transactions of DELETE_BATCH frames so the
 * buffers are stored in between. */
int
tapedb_retention(struct tapedb *d, int64_t max_age_s, int64_t max_bytes, uint64_t *deleted_out,
		 uint64_t *file_out, uint64_t *used_out)
{
	uint64_t deleted = 0, file = 0, used = 0;
	int rc = SQLITE_OK;
	int64_t n = 0;

	if (max_age_s > 0) {
		int64_t cutoff = (int64_t)clock_now_ms() - max_age_s * 1000;

		for (;;) {
			int64_t oldest = query_int(d, "SELECT ts FROM frames ORDER BY id LIMIT 1");

			if (oldest < 0 || oldest >= cutoff || (n = delete_oldest(d, DELETE_BATCH, cutoff)) <= 0)
				break;
			deleted += (uint64_t)n;
		}
		if (n < 0)
			rc = SQLITE_ERROR;
	}
	measure(d, &file, &used);
	/* a tenth below the limit, so the next pass has room before it must
	 * delete again */
	while (max_bytes > 0 && used > (uint64_t)max_bytes - (uint64_t)max_bytes / 10) {
		/* as many frames as the excess is worth at the average frame's
		 * size (ids are nearly contiguous: no COUNT(*) scan) */
		int64_t lo = query_int(d, "SELECT MIN(id) FROM frames"),
			hi = query_int(d, "SELECT MAX(id) FROM frames"), want = DELETE_BATCH;
		uint64_t excess = used - ((uint64_t)max_bytes - (uint64_t)max_bytes / 10);

		if (lo > 0 && hi >= lo)
			want = (int64_t)(excess / (used / (uint64_t)(hi - lo + 1) + 1)) + 1;
		if ((n = delete_oldest(d, want, -1)) <= 0) {
			if (n < 0)
				rc = SQLITE_ERROR;
			break;
		}
		deleted += (uint64_t)n;
		measure(d, &file, &used);
	}
	*deleted_out = deleted;
	*file_out = file;
	*used_out = used;
	return rc;
}

/* The last write of a run: each channel's last seq handed out, and the
 * clean mark if every frame up to it was stored. */
static void
close_cleanly(struct tapedb *d, const uint64_t *given)
{
	int complete = 1, rc;

	/* frames lost earlier in the run are below seqs stored later and do
	 * not matter here; what matters is whether the newest seq of each
	 * channel is in the file */
	for (size_t i = 0; i < d->n; i++) {
		char key[300], v[32];

		snprintf(key, sizeof(key), "seq:%s", d->names[i]);
		if (given[i] && (meta_get(d, key, v, sizeof(v)) != SQLITE_OK || strtoull(v, NULL, 10) < given[i]))
			complete = 0;
	}
	rc = exec(d, "BEGIN IMMEDIATE");
	for (size_t i = 0; rc == SQLITE_OK && i < d->n; i++) {
		char key[300], v[24];

		if (!given[i])
			continue;
		snprintf(key, sizeof(key), "seq:%s", d->names[i]);
		snprintf(v, sizeof(v), "%llu", (unsigned long long)given[i]);
		rc = meta_put(d, key, v);
	}
	if (rc == SQLITE_OK && complete)
		rc = meta_put(d, "clean", "1");
	if (rc == SQLITE_OK)
		rc = exec(d, "COMMIT");
	if (rc != SQLITE_OK && !sqlite3_get_autocommit(d->db))
		exec(d, "ROLLBACK");
}

int
tapedb_open(struct tapedb *d, int at_start)
{
	return db_open(d, at_start) ? -1 : 0;
}

int
tapedb_write(struct tapedb *d, const struct tapebuf *q, uint64_t *bytes, int64_t *newest)
{
	return write_batch(d, q, bytes, newest);
}

void
tapedb_close(struct tapedb *d, const uint64_t *given)
{
	if (d->db && given)
		close_cleanly(d, given);
	db_close(d);
}
