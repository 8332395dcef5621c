/* tape.c: the SQLite tape and its writer thread (see tape.h).
 *
 * Batching: the loop appends to the front buffer and wakes the writer when
 * the first frame goes in; the writer waits until that frame is BATCH_MS
 * old (or the buffer a quarter full), swaps the buffers and stores the
 * whole back buffer in one transaction. At a trickle that is one commit
 * per BATCH_MS; at a flood the buffers take turns and a transaction holds
 * everything that came in while the previous one was written.
 *
 * What a crash can lose: committed transactions survive a SIGKILL (WAL,
 * synchronous=NORMAL: SQLite has written them to the WAL file; only a
 * power cut or kernel crash can lose the last ones). What was still in the
 * buffers is lost: at most the frames of the last BATCH_MS plus the
 * transaction being written, never more than the two buffers hold
 * (2 x QUEUE_BYTES). The next start sees that the file was not closed
 * cleanly and gives the taped channels a new epoch, so a seq handed to a
 * browser but never stored is never handed out again with other data.
 *
 * Space: retention deletes the oldest frames; SQLite reuses the freed
 * pages, so the file stops growing at about max_bytes but does not shrink
 * (VACUUM it offline to give space back). The WAL file is truncated to
 * WAL_LIMIT after each checkpoint. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "clock.h"
#include "log.h"
#include "tape.h"
#include "tapeq.h"

#define QUEUE_BYTES (16u << 20)		/* per buffer; two of them */
#define BATCH_MS 50			/* the longest a frame waits in the buffer */
#define RETENTION_EVERY_MS 10000
#define DELETE_BATCH 2000		/* frames per retention transaction */
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define WAL_LIMIT (64 << 20)

enum tape_state { TS_STARTING = 0, TS_RECORDING, TS_FAILING };
static const char *const state_names[] = { "starting", "recording", "failing" };

struct tape_chan {
	char *name;
	uint64_t last_seq;	/* in the tape at start */
	uint64_t last_given;	/* loop: the last seq handed to tape_record */
	uint64_t given_at_stop;	/* shared: last_given, copied at tape_close */
};

struct tape {
	char *path;
	struct tape_chan *chan;
	size_t n_chan;
	int64_t max_age_s, max_bytes;
	char epoch[17];

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct tapeq q[2];
	int front;		/* the buffer the loop appends to */
	int stop;
	pthread_t thr;
	int thr_started;

	/* shared counters and state (mu) */
	int state;
	char last_error[256];
	uint64_t recorded, recorded_bytes, batches;
	uint64_t dropped_full, dropped_big, write_failed;
	uint64_t write_errors, retention_deleted, recoveries;
	uint64_t file_bytes, used_bytes;
	int64_t last_commit_ms;	/* wall clock */
	int64_t newest_ts;	/* receive time of the newest frame stored */

	/* writer only */
	sqlite3 *db;
	sqlite3_stmt *ins, *meta_set;
	uint64_t retry_at, backoff_ms, next_retention_ms;

	/* loop only: what was logged */
	int logged_state;
	uint64_t logged_lost, logged_recoveries;
	struct log_ratelimit rl;
};

/* ---- the database (writer thread, or the loop before the writer starts) ---- */

static const char SCHEMA[] =
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS frames ("
	" id INTEGER PRIMARY KEY, channel TEXT NOT NULL, epoch TEXT NOT NULL,"
	" seq INTEGER NOT NULL, ts INTEGER NOT NULL, payload TEXT NOT NULL);"
	"CREATE UNIQUE INDEX IF NOT EXISTS frames_seq ON frames(channel, epoch, seq);"
	"CREATE INDEX IF NOT EXISTS frames_ts ON frames(channel, ts);";

static void
set_error(struct tape *t, const char *what, int rc)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s: %s", what,
		 t->db && rc != SQLITE_CANTOPEN ? sqlite3_errmsg(t->db) : sqlite3_errstr(rc));
	pthread_mutex_lock(&t->mu);
	snprintf(t->last_error, sizeof(t->last_error), "%s", msg);
	t->write_errors++;
	pthread_mutex_unlock(&t->mu);
}

static void
db_close(struct tape *t)
{
	sqlite3_finalize(t->ins);
	sqlite3_finalize(t->meta_set);
	t->ins = t->meta_set = NULL;
	if (t->db)
		sqlite3_close(t->db);
	t->db = NULL;
}

/* Runs sql with no result rows. Returns an SQLite code. */
static int
exec(struct tape *t, const char *sql)
{
	return sqlite3_exec(t->db, sql, NULL, NULL, NULL);
}

/* The text of meta[key] into out ("" if absent). Returns an SQLite code. */
static int
meta_get(struct tape *t, const char *key, char *out, size_t cap)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(t->db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL);

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
meta_put(struct tape *t, const char *key, const char *value)
{
	sqlite3_reset(t->meta_set);
	sqlite3_bind_text(t->meta_set, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(t->meta_set, 2, value, -1, SQLITE_TRANSIENT);
	return sqlite3_step(t->meta_set) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(t->db);
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

/* The highest seq the tape holds for channel i in t->epoch: the larger of
 * the frames' and the high-water mark kept in meta (frames may have been
 * deleted by retention, and seqs must still not go back). */
static int
read_last_seq(struct tape *t, size_t i)
{
	sqlite3_stmt *st;
	char key[300], v[32];
	uint64_t m = 0;
	int rc = sqlite3_prepare_v2(t->db, "SELECT MAX(seq) FROM frames WHERE channel = ? AND epoch = ?",
				    -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, t->chan[i].name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->epoch, 16, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER)
		m = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return rc;
	snprintf(key, sizeof(key), "seq:%s", t->chan[i].name);
	if ((rc = meta_get(t, key, v, sizeof(v))) != SQLITE_OK)
		return rc;
	if (v[0] && strtoull(v, NULL, 10) > m)
		m = strtoull(v, NULL, 10);
	t->chan[i].last_seq = m;
	return SQLITE_OK;
}

/* Opens the file, makes the schema, decides the epoch. at_start: the taped
 * channels' epoch and seqs are still to be chosen from the file. Returns 0,
 * or -1 with t->last_error set and the file left as it was. */
static int
db_open(struct tape *t, int at_start)
{
	sqlite3_stmt *st = NULL;
	char v[64], clean[8];
	int rc;

	rc = sqlite3_open_v2(t->path, &t->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		set_error(t, "cannot open the tape", rc);
		goto bad;
	}
	sqlite3_extended_result_codes(t->db, 0);
	sqlite3_busy_timeout(t->db, 5000);
	if (sqlite3_db_readonly(t->db, "main") == 1) {
		rc = SQLITE_READONLY;
		set_error(t, "the tape file is read-only", rc);
		goto bad;
	}
	/* the first read of the file: a file that is not SQLite fails here,
	 * before anything is written to it. 8 KiB pages (a new file only)
	 * hold seven 1 KB frames where 4 KiB ones hold three: 15 % less file */
	rc = sqlite3_exec(t->db, "PRAGMA page_size=8192", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(t->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(st, 0), "wal")) {
		if (rc == SQLITE_ROW)
			rc = SQLITE_CANTOPEN;	/* WAL refused: no shared memory, a read-only folder */
		set_error(t, rc == SQLITE_NOTADB ? "the tape file is not an SQLite database (left untouched)"
						 : "cannot use the tape file", rc);
		goto bad;
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = exec(t, "PRAGMA synchronous=NORMAL")) != SQLITE_OK ||
	    (rc = exec(t, "PRAGMA journal_size_limit=" "67108864")) != SQLITE_OK ||
	    /* a checkpoint (and its fsyncs) every 32 MiB of WAL, not every 4 MiB */
	    (rc = exec(t, "PRAGMA wal_autocheckpoint=4096")) != SQLITE_OK ||
	    (rc = exec(t, SCHEMA)) != SQLITE_OK) {
		set_error(t, "cannot create the tape's tables", rc);
		goto bad;
	}
	rc = sqlite3_prepare_v2(t->db, "INSERT OR IGNORE INTO frames (channel, epoch, seq, ts, payload) "
				"VALUES (?, ?, ?, ?, ?)", -1, &t->ins, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(t->db, "INSERT INTO meta (key, value) VALUES (?, ?) "
					"ON CONFLICT(key) DO UPDATE SET value = excluded.value",
					-1, &t->meta_set, NULL);
	if (rc != SQLITE_OK) {
		set_error(t, "cannot prepare the tape's statements", rc);
		goto bad;
	}
	if ((rc = meta_get(t, "schema", v, sizeof(v))) != SQLITE_OK) {
		set_error(t, "cannot read the tape's meta table", rc);
		goto bad;
	}
	if (v[0] && strcmp(v, "1")) {
		rc = SQLITE_MISMATCH;
		pthread_mutex_lock(&t->mu);
		snprintf(t->last_error, sizeof(t->last_error),
			 "the tape has schema %.16s, this relay writes schema 1 (left untouched)", v);
		pthread_mutex_unlock(&t->mu);
		goto bad;
	}
	if (at_start) {
		if ((rc = meta_get(t, "epoch", v, sizeof(v))) != SQLITE_OK ||
		    (rc = meta_get(t, "clean", clean, sizeof(clean))) != SQLITE_OK) {
			set_error(t, "cannot read the tape's meta table", rc);
			goto bad;
		}
		if (epoch_valid(v) && !strcmp(clean, "1"))
			memcpy(t->epoch, v, 17);
		else if (epoch_valid(v))
			log_msg(LOG_WARN, "tape: %s was not closed cleanly (a crash or SIGKILL): up to the "
				"last batch of frames may be missing from it, so the taped channels start a new "
				"epoch %s (the frames of epoch %s stay in the tape)", t->path, t->epoch, v);
		for (size_t i = 0; i < t->n_chan; i++)
			if ((rc = read_last_seq(t, i)) != SQLITE_OK) {
				set_error(t, "cannot read the tape's last seqs", rc);
				goto bad;
			}
	}
	/* until tape_close says otherwise, the file is not cleanly closed */
	if ((rc = exec(t, "BEGIN IMMEDIATE")) != SQLITE_OK ||
	    (rc = meta_put(t, "schema", "1")) != SQLITE_OK ||
	    (rc = meta_put(t, "epoch", t->epoch)) != SQLITE_OK ||
	    (rc = meta_put(t, "clean", "0")) != SQLITE_OK ||
	    (rc = exec(t, "COMMIT")) != SQLITE_OK) {
		set_error(t, "cannot write to the tape", rc);
		goto bad;
	}
	return 0;
bad:
	sqlite3_finalize(st);
	db_close(t);
	return -1;
}

/* Stores one buffer in one transaction, with each channel's highest seq
 * as its high-water mark. Returns an SQLite code; on error nothing of it
 * is stored. */
static int
write_batch(struct tape *t, const struct tapeq *q, uint64_t *bytes, int64_t *newest)
{
	const struct tapeq_rec *rec;
	const char *p;
	size_t off = 0;
	uint64_t *hi = calloc(t->n_chan, sizeof(*hi));
	int rc;

	if (!hi)
		return SQLITE_NOMEM;
	*bytes = 0;
	if ((rc = exec(t, "BEGIN IMMEDIATE")) != SQLITE_OK)
		goto out;
	while ((rec = tapeq_next(q, &off, &p))) {
		sqlite3_reset(t->ins);
		sqlite3_bind_text(t->ins, 1, t->chan[rec->chan].name, -1, SQLITE_STATIC);
		sqlite3_bind_text(t->ins, 2, rec->epoch, 16, SQLITE_STATIC);
		sqlite3_bind_int64(t->ins, 3, (sqlite3_int64)rec->seq);
		sqlite3_bind_int64(t->ins, 4, rec->ts);
		sqlite3_bind_text(t->ins, 5, p, (int)rec->len, SQLITE_STATIC);
		if ((rc = sqlite3_step(t->ins)) != SQLITE_DONE)
			goto rollback;
		*bytes += rec->len;
		if (rec->seq > hi[rec->chan])
			hi[rec->chan] = rec->seq;
		if (rec->ts > *newest)
			*newest = rec->ts;
	}
	sqlite3_reset(t->ins);
	for (size_t i = 0; i < t->n_chan; i++) {
		char key[300], v[24];

		if (!hi[i])
			continue;
		snprintf(key, sizeof(key), "seq:%s", t->chan[i].name);
		snprintf(v, sizeof(v), "%llu", (unsigned long long)hi[i]);
		if ((rc = meta_put(t, key, v)) != SQLITE_OK)
			goto rollback;
	}
	rc = exec(t, "COMMIT");
	if (rc == SQLITE_OK)
		goto out;
rollback:
	rc = rc == SQLITE_DONE ? SQLITE_ERROR : rc;
	sqlite3_reset(t->ins);
	if (!sqlite3_get_autocommit(t->db))
		exec(t, "ROLLBACK");
out:
	free(hi);
	return rc;
}

static int64_t
query_int(struct tape *t, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(t->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Deletes the `count` (at most DELETE_BATCH) oldest frames, those older than
 * before_ts only if before_ts >= 0. Returns how many went, or -1 on error. */
static int64_t
delete_oldest(struct tape *t, int64_t count, int64_t before_ts)
{
	sqlite3_stmt *st;
	int64_t first = query_int(t, "SELECT MIN(id) FROM frames");
	int rc;

	if (first < 0)
		return 0;
	rc = sqlite3_prepare_v2(t->db, before_ts >= 0 ? "DELETE FROM frames WHERE id < ? AND ts < ?" :
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
		set_error(t, "retention: cannot delete old frames", rc);
		return -1;
	}
	return sqlite3_changes(t->db);
}

/* Size of the file and of the pages in use (the rest are free, reused by
 * later inserts). */
static void
measure(struct tape *t, uint64_t *file, uint64_t *used)
{
	int64_t pc = query_int(t, "PRAGMA page_count"), fl = query_int(t, "PRAGMA freelist_count"),
		ps = query_int(t, "PRAGMA page_size");

	*file = pc > 0 && ps > 0 ? (uint64_t)(pc * ps) : 0;
	*used = pc > 0 && ps > 0 && fl >= 0 ? (uint64_t)((pc - fl) * ps) : *file;
}

/* Retention, oldest first, in transactions of DELETE_BATCH frames so the
 * buffers are stored in between. */
static void
retention(struct tape *t)
{
	uint64_t deleted = 0, file = 0, used = 0;
	int64_t n;

	if (t->max_age_s > 0) {
		int64_t cutoff = (int64_t)clock_now_ms() - t->max_age_s * 1000;

		for (;;) {
			int64_t oldest = query_int(t, "SELECT ts FROM frames ORDER BY id LIMIT 1");

			if (oldest < 0 || oldest >= cutoff || (n = delete_oldest(t, DELETE_BATCH, cutoff)) <= 0)
				break;
			deleted += (uint64_t)n;
		}
	}
	measure(t, &file, &used);
	/* a tenth below the limit, so the next pass has room before it must
	 * delete again */
	while (t->max_bytes > 0 && used > (uint64_t)t->max_bytes - (uint64_t)t->max_bytes / 10) {
		/* as many frames as the excess is worth at the average frame's
		 * size (ids are nearly contiguous: no COUNT(*) scan) */
		int64_t lo = query_int(t, "SELECT MIN(id) FROM frames"),
			hi = query_int(t, "SELECT MAX(id) FROM frames"), want = DELETE_BATCH;
		uint64_t excess = used - ((uint64_t)t->max_bytes - (uint64_t)t->max_bytes / 10);

		if (lo > 0 && hi >= lo)
			want = (int64_t)(excess / (used / (uint64_t)(hi - lo + 1) + 1)) + 1;
		if ((n = delete_oldest(t, want, -1)) <= 0)
			break;
		deleted += (uint64_t)n;
		measure(t, &file, &used);
	}
	pthread_mutex_lock(&t->mu);
	t->retention_deleted += deleted;
	t->file_bytes = file;
	t->used_bytes = used;
	pthread_mutex_unlock(&t->mu);
}

/* The last write of a run: each channel's last seq handed out, and the
 * clean mark if every frame up to it was stored. */
static void
close_cleanly(struct tape *t, int complete)
{
	int rc = exec(t, "BEGIN IMMEDIATE");

	for (size_t i = 0; rc == SQLITE_OK && i < t->n_chan; i++) {
		char key[300], v[24];

		if (!t->chan[i].given_at_stop)
			continue;
		snprintf(key, sizeof(key), "seq:%s", t->chan[i].name);
		snprintf(v, sizeof(v), "%llu", (unsigned long long)t->chan[i].given_at_stop);
		rc = meta_put(t, key, v);
	}
	if (rc == SQLITE_OK && complete)
		rc = meta_put(t, "clean", "1");
	if (rc == SQLITE_OK)
		rc = exec(t, "COMMIT");
	if (rc != SQLITE_OK && !sqlite3_get_autocommit(t->db))
		exec(t, "ROLLBACK");
}

/* ---- the writer thread ---- */

static void
abstime_in(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void
failed(struct tape *t, uint64_t now)
{
	t->backoff_ms = t->backoff_ms ? t->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (t->backoff_ms > BACKOFF_MAX_MS)
		t->backoff_ms = BACKOFF_MAX_MS;
	t->retry_at = now + t->backoff_ms;
}

static void *
writer_main(void *arg)
{
	struct tape *t = arg;
	uint64_t lost_at_stop = 0;

	pthread_mutex_lock(&t->mu);
	for (;;) {
		uint64_t now = clock_mono_ms(), wake = now + 60000;
		struct tapeq *q = &t->q[t->front], *batch = NULL;
		int retry_due = now >= t->retry_at, ret_due = 0, open_due, rc;

		if (q->n && (t->stop || (retry_due && (q->len >= q->cap / 4 || now >= q->first_ms + BATCH_MS))))
			batch = q;
		else if (q->n)
			wake = retry_due ? q->first_ms + BATCH_MS : t->retry_at;
		open_due = !t->db && retry_due && !t->stop;
		if (!open_due && !t->db && t->retry_at < wake)
			wake = t->retry_at;
		/* also without limits: the pass measures the file for status */
		if (t->db && !t->stop) {
			ret_due = now >= t->next_retention_ms;
			if (!ret_due && t->next_retention_ms < wake)
				wake = t->next_retention_ms;
		}
		if (!batch && !open_due && !ret_due) {
			struct timespec ts;

			if (t->stop)
				break;
			abstime_in(&ts, wake > now ? wake - now : 1);
			pthread_cond_timedwait(&t->cv, &t->mu, &ts);
			continue;
		}
		if (batch)
			t->front ^= 1;	/* the loop goes on in the other, empty one */
		pthread_mutex_unlock(&t->mu);

		if (!t->db && (open_due || batch))
			db_open(t, 0);
		if (!t->db) {
			failed(t, now);
			pthread_mutex_lock(&t->mu);
			t->state = TS_FAILING;
			if (batch) {
				t->write_failed += batch->n;
				tapeq_clear(batch);
			}
			continue;
		}
		if (batch) {
			uint64_t bytes = 0;
			int64_t newest = 0;

			rc = write_batch(t, batch, &bytes, &newest);
			pthread_mutex_lock(&t->mu);
			if (rc == SQLITE_OK) {
				t->recorded += batch->n;
				t->recorded_bytes += bytes;
				t->batches++;
				t->last_commit_ms = (int64_t)clock_now_ms();
				if (newest > t->newest_ts)
					t->newest_ts = newest;
				if (t->state == TS_FAILING)
					t->recoveries++;
				t->state = TS_RECORDING;
				t->backoff_ms = 0;
				t->retry_at = 0;
			} else {
				t->write_failed += batch->n;
				t->state = TS_FAILING;
			}
			tapeq_clear(batch);
			pthread_mutex_unlock(&t->mu);
			if (rc != SQLITE_OK) {
				set_error(t, "cannot store frames", rc);
				failed(t, now);
				/* a file replaced or made unusable under us is opened
				 * afresh at the next try */
				if (rc != SQLITE_FULL && rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
					db_close(t);
			}
		} else if (t->state != TS_RECORDING) {
			pthread_mutex_lock(&t->mu);
			if (t->state == TS_FAILING)
				t->recoveries++;
			t->state = TS_RECORDING;
			t->backoff_ms = 0;
			pthread_mutex_unlock(&t->mu);
		}
		if (ret_due && t->db) {
			retention(t);
			t->next_retention_ms = clock_mono_ms() + RETENTION_EVERY_MS;
		}
		pthread_mutex_lock(&t->mu);
	}
	lost_at_stop = t->write_failed + t->dropped_full + t->dropped_big;
	pthread_mutex_unlock(&t->mu);
	if (t->db) {
		int complete = 1;

		/* frames lost earlier in the run are below seqs stored later and
		 * do not matter here; what matters is whether the newest seq of
		 * each channel is in the file */
		(void)lost_at_stop;
		for (size_t i = 0; i < t->n_chan; i++) {
			char key[300], v[32];

			snprintf(key, sizeof(key), "seq:%s", t->chan[i].name);
			if (t->chan[i].given_at_stop &&
			    (meta_get(t, key, v, sizeof(v)) != SQLITE_OK ||
			     strtoull(v, NULL, 10) < t->chan[i].given_at_stop))
				complete = 0;
		}
		close_cleanly(t, complete);
		db_close(t);
	}
	return NULL;
}

/* ---- the loop's side ---- */

struct tape *
tape_open(const char *path, char *const *channels, size_t n, const char *fresh_epoch,
	  int64_t max_age_s, int64_t max_bytes)
{
	struct tape *t = calloc(1, sizeof(*t));
	pthread_condattr_t ca;

	if (!t)
		return NULL;
	/* a write past RLIMIT_FSIZE must fail with EFBIG, not kill the relay */
	signal(SIGXFSZ, SIG_IGN);
	pthread_mutex_init(&t->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cv, &ca);
	pthread_condattr_destroy(&ca);
	t->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(60000, 3);
	t->path = strdup(path);
	t->chan = calloc(n ? n : 1, sizeof(*t->chan));
	if (!t->path || !t->chan || tapeq_init(&t->q[0], QUEUE_BYTES) || tapeq_init(&t->q[1], QUEUE_BYTES))
		goto oom;
	t->n_chan = n;
	for (size_t i = 0; i < n; i++)
		if (!(t->chan[i].name = strdup(channels[i])))
			goto oom;
	t->max_age_s = max_age_s;
	t->max_bytes = max_bytes;
	memcpy(t->epoch, fresh_epoch, 16);
	t->epoch[16] = '\0';
	if (db_open(t, 1)) {
		t->state = TS_FAILING;
		t->retry_at = clock_mono_ms() + (t->backoff_ms = BACKOFF_MIN_MS);
		log_msg(LOG_ERR, "tape: %s: %s; relaying goes on without recording, retrying", t->path,
			t->last_error);
	} else {
		t->state = TS_RECORDING;
		log_msg(LOG_INFO, "tape: recording %zu channel(s) to %s (epoch %s)", n, t->path, t->epoch);
	}
	t->logged_state = t->state;
	if (pthread_create(&t->thr, NULL, writer_main, t)) {
		log_msg(LOG_ERR, "tape: cannot start the writer thread: %s", strerror(errno));
		db_close(t);
		goto oom;
	}
	t->thr_started = 1;
	return t;
oom:
	tape_close(t);
	return NULL;
}

void
tape_close(struct tape *t)
{
	if (!t)
		return;
	if (t->thr_started) {
		pthread_mutex_lock(&t->mu);
		for (size_t i = 0; i < t->n_chan; i++)
			t->chan[i].given_at_stop = t->chan[i].last_given;
		t->stop = 1;
		pthread_cond_signal(&t->cv);
		pthread_mutex_unlock(&t->mu);
		pthread_join(t->thr, NULL);
		log_msg(LOG_INFO, "tape: closed %s: %llu frame(s) recorded, %llu not recorded", t->path,
			(unsigned long long)t->recorded,
			(unsigned long long)(t->dropped_full + t->dropped_big + t->write_failed));
	}
	db_close(t);
	for (size_t i = 0; t->chan && i < t->n_chan; i++)
		free(t->chan[i].name);
	free(t->chan);
	free(t->path);
	tapeq_free(&t->q[0]);
	tapeq_free(&t->q[1]);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

const char *
tape_epoch(const struct tape *t)
{
	return t->epoch;
}

uint64_t
tape_last_seq(const struct tape *t, size_t i)
{
	return i < t->n_chan ? t->chan[i].last_seq : 0;
}

size_t
tape_n_channels(const struct tape *t)
{
	return t->n_chan;
}

const char *
tape_channel_name(const struct tape *t, size_t i)
{
	return i < t->n_chan ? t->chan[i].name : NULL;
}

void
tape_record(struct tape *t, size_t i, const char *epoch, uint64_t seq, int64_t ts, const char *payload,
	    size_t len)
{
	struct tapeq *q;

	if (i >= t->n_chan)
		return;
	t->chan[i].last_given = seq;
	pthread_mutex_lock(&t->mu);
	q = &t->q[t->front];
	if (tapeq_put(q, (uint16_t)i, epoch, seq, ts, payload, len)) {
		if (tapeq_rec_size(len) > q->cap)
			t->dropped_big++;
		else
			t->dropped_full++;
	} else if (q->n == 1) {
		q->first_ms = clock_mono_ms();
		pthread_cond_signal(&t->cv);
	} else if (q->len >= q->cap / 4 && q->len - tapeq_rec_size(len) < q->cap / 4)
		pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

/* ---- reporting ---- */

struct tape_snap {
	int state;
	char last_error[256];
	uint64_t recorded, recorded_bytes, batches, dropped_full, dropped_big, write_failed;
	uint64_t write_errors, retention_deleted, recoveries, file_bytes, used_bytes, queued_bytes;
	uint32_t queued;
	int64_t last_commit_ms, newest_ts;
};

static void
snap(struct tape *t, struct tape_snap *s)
{
	pthread_mutex_lock(&t->mu);
	s->state = t->state;
	memcpy(s->last_error, t->last_error, sizeof(s->last_error));
	s->recorded = t->recorded;
	s->recorded_bytes = t->recorded_bytes;
	s->batches = t->batches;
	s->dropped_full = t->dropped_full;
	s->dropped_big = t->dropped_big;
	s->write_failed = t->write_failed;
	s->write_errors = t->write_errors;
	s->retention_deleted = t->retention_deleted;
	s->recoveries = t->recoveries;
	s->file_bytes = t->file_bytes;
	s->used_bytes = t->used_bytes;
	s->queued_bytes = t->q[0].len + t->q[1].len;
	s->queued = t->q[0].n + t->q[1].n;
	s->last_commit_ms = t->last_commit_ms;
	s->newest_ts = t->newest_ts;
	pthread_mutex_unlock(&t->mu);
}

void
tape_tick(struct tape *t, uint64_t now_ms)
{
	struct tape_snap s;
	uint64_t lost;

	if (!t)
		return;
	snap(t, &s);
	lost = s.dropped_full + s.dropped_big + s.write_failed;
	/* a failure and its recovery may both fall between two ticks: the
	 * recoveries counter still shows that there was one */
	if (t->logged_state != TS_FAILING && (s.state == TS_FAILING || s.recoveries != t->logged_recoveries))
		log_msg(LOG_ERR, "tape: %s: %s; relaying goes on, frames are counted as not recorded "
			"until the tape can be written again", t->path, s.last_error);
	if (s.recoveries != t->logged_recoveries)
		log_msg(LOG_INFO, "tape: recording to %s again (%llu frame(s) not recorded so far)",
			t->path, (unsigned long long)lost);
	t->logged_state = s.state;
	t->logged_recoveries = s.recoveries;
	if (lost != t->logged_lost &&
	    log_limited(&t->rl, now_ms, LOG_WARN, "tape: %llu frame(s) not recorded so far (%llu: the "
			"writer fell behind, %llu: too large, %llu: write failed%s%s)",
			(unsigned long long)lost, (unsigned long long)s.dropped_full,
			(unsigned long long)s.dropped_big, (unsigned long long)s.write_failed,
			s.last_error[0] ? "; last error: " : "", s.last_error))
		t->logged_lost = lost;
}

void
tape_status_json(struct tape *t, cJSON *root)
{
	struct tape_snap s;
	cJSON *o, *a, *nr;

	if (!t) {
		o = cJSON_AddObjectToObject(root, "tape");
		cJSON_AddStringToObject(o, "state", "off");
		return;
	}
	snap(t, &s);
	o = cJSON_AddObjectToObject(root, "tape");
	cJSON_AddStringToObject(o, "state", state_names[s.state]);
	cJSON_AddStringToObject(o, "path", t->path);
	cJSON_AddStringToObject(o, "epoch", t->epoch);
	a = cJSON_AddArrayToObject(o, "channels");
	for (size_t i = 0; i < t->n_chan; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(t->chan[i].name));
	cJSON_AddNumberToObject(o, "recorded", (double)s.recorded);
	cJSON_AddNumberToObject(o, "recorded_bytes", (double)s.recorded_bytes);
	cJSON_AddNumberToObject(o, "transactions", (double)s.batches);
	nr = cJSON_AddObjectToObject(o, "not_recorded");
	cJSON_AddNumberToObject(nr, "total", (double)(s.dropped_full + s.dropped_big + s.write_failed));
	cJSON_AddNumberToObject(nr, "queue_full", (double)s.dropped_full);
	cJSON_AddNumberToObject(nr, "too_large", (double)s.dropped_big);
	cJSON_AddNumberToObject(nr, "write_failed", (double)s.write_failed);
	cJSON_AddNumberToObject(o, "write_errors", (double)s.write_errors);
	cJSON_AddNumberToObject(o, "recoveries", (double)s.recoveries);
	cJSON_AddStringToObject(o, "last_error", s.last_error);
	cJSON_AddNumberToObject(o, "queued", s.queued);
	cJSON_AddNumberToObject(o, "queued_bytes", (double)s.queued_bytes);
	cJSON_AddNumberToObject(o, "queue_capacity_bytes", 2.0 * QUEUE_BYTES);
	if (s.last_commit_ms)
		cJSON_AddNumberToObject(o, "last_commit_ms", (double)s.last_commit_ms);
	else
		cJSON_AddNullToObject(o, "last_commit_ms");
	cJSON_AddNumberToObject(o, "file_bytes", (double)s.file_bytes);
	cJSON_AddNumberToObject(o, "used_bytes", (double)s.used_bytes);
	{
		cJSON *r = cJSON_AddObjectToObject(o, "retention");

		cJSON_AddNumberToObject(r, "max_age_seconds", (double)t->max_age_s);
		cJSON_AddNumberToObject(r, "max_bytes", (double)t->max_bytes);
		cJSON_AddNumberToObject(r, "deleted", (double)s.retention_deleted);
	}
}

static void
head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP uwrelay_tape_%s %s\n# TYPE uwrelay_tape_%s %s\n", name, help, name, type);
}

void
tape_metrics(struct tape *t, FILE *f)
{
	struct tape_snap s;

	head(f, "enabled", "gauge", "1 when a tape is configured.");
	fprintf(f, "uwrelay_tape_enabled %d\n", t != NULL);
	if (!t)
		return;
	snap(t, &s);
	head(f, "up", "gauge", "1 while the tape is being written, 0 while writes fail.");
	fprintf(f, "uwrelay_tape_up %d\n", s.state == TS_RECORDING);
	head(f, "frames_recorded_total", "counter", "Frames stored in the tape.");
	fprintf(f, "uwrelay_tape_frames_recorded_total %llu\n", (unsigned long long)s.recorded);
	head(f, "bytes_recorded_total", "counter", "Payload bytes stored in the tape.");
	fprintf(f, "uwrelay_tape_bytes_recorded_total %llu\n", (unsigned long long)s.recorded_bytes);
	head(f, "transactions_total", "counter", "Transactions committed by the tape writer.");
	fprintf(f, "uwrelay_tape_transactions_total %llu\n", (unsigned long long)s.batches);
	head(f, "frames_not_recorded_total", "counter", "Frames of taped channels not stored, by reason.");
	fprintf(f, "uwrelay_tape_frames_not_recorded_total{reason=\"queue_full\"} %llu\n",
		(unsigned long long)s.dropped_full);
	fprintf(f, "uwrelay_tape_frames_not_recorded_total{reason=\"too_large\"} %llu\n",
		(unsigned long long)s.dropped_big);
	fprintf(f, "uwrelay_tape_frames_not_recorded_total{reason=\"write_failed\"} %llu\n",
		(unsigned long long)s.write_failed);
	head(f, "write_errors_total", "counter", "Failed attempts to open or write the tape.");
	fprintf(f, "uwrelay_tape_write_errors_total %llu\n", (unsigned long long)s.write_errors);
	head(f, "queued_bytes", "gauge", "Bytes waiting for the tape writer.");
	fprintf(f, "uwrelay_tape_queued_bytes %llu\n", (unsigned long long)s.queued_bytes);
	head(f, "file_bytes", "gauge", "Size of the tape file (at the last retention pass).");
	fprintf(f, "uwrelay_tape_file_bytes %llu\n", (unsigned long long)s.file_bytes);
	head(f, "retention_deleted_total", "counter", "Frames deleted by retention.");
	fprintf(f, "uwrelay_tape_retention_deleted_total %llu\n", (unsigned long long)s.retention_deleted);
}
