/* tapeq.c: the tape's reader thread (see tapeq.h).
 *
 * Queries use the contract's indexes: frames_seq (channel, epoch, seq) for
 * seq ranges, frames_ts (channel, ts) for time ranges. The connection is
 * read-only and opened lazily (and again after a failure), so the relay
 * starts before the recorder has created the file and survives the file
 * being replaced. A read sees one WAL snapshot: a page is consistent even
 * while the recorder appends. */
#include <lws_config.h>
#include <libwebsockets.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include "tapeq.h"

static const char *const sql[] = {
	[TAPEQ_SINCE] = "SELECT seq, ts, payload FROM frames WHERE channel = ?1 AND epoch = ?2 "
			"AND seq > ?3 AND seq < ?4 ORDER BY seq LIMIT ?5",
	[TAPEQ_NEWEST] = "SELECT seq, ts, payload FROM frames WHERE channel = ?1 AND epoch = ?2 "
			 "AND seq > ?3 AND seq < ?4 ORDER BY seq DESC LIMIT ?5",
	[TAPEQ_TIME] = "SELECT seq, ts, payload FROM frames WHERE channel = ?1 AND epoch = ?2 "
		       "AND seq > ?3 AND seq < ?4 AND ts >= ?6 AND ts < ?7 ORDER BY seq LIMIT ?5",
};

struct reader {
	sqlite3 *db;
	sqlite3_stmt *st[3];
};

static void
reader_close(struct reader *rd)
{
	for (int i = 0; i < 3; i++) {
		sqlite3_finalize(rd->st[i]);
		rd->st[i] = NULL;
	}
	if (rd->db)
		sqlite3_close(rd->db);
	rd->db = NULL;
}

static int
reader_open(struct reader *rd, const char *path, char *err, size_t errlen)
{
	if (rd->db)
		return 0;
	if (sqlite3_open_v2(path, &rd->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open the tape: %s", rd->db ? sqlite3_errmsg(rd->db) : "out of memory");
		reader_close(rd);
		return -1;
	}
	/* the recorder's checkpoints take the write lock briefly */
	sqlite3_busy_timeout(rd->db, 2000);
	for (int i = 0; i < 3; i++)
		if (sqlite3_prepare_v3(rd->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &rd->st[i], NULL) !=
		    SQLITE_OK) {
			snprintf(err, errlen, "the tape is not a uwrelay tape: %s", sqlite3_errmsg(rd->db));
			reader_close(rd);
			return -1;
		}
	return 0;
}

/* Appends one row to q's answer. Returns 0, or -1 out of memory. */
static int
add_row(struct tapeq_req *q, uint32_t *cap, size_t *bcap, sqlite3_int64 seq, sqlite3_int64 ts,
	const void *p, size_t len)
{
	if (q->n == *cap) {
		uint32_t nc = *cap ? *cap * 2 : 64;
		struct tapeq_row *nr = realloc(q->rows, nc * sizeof(*nr));

		if (!nr)
			return -1;
		q->rows = nr;
		*cap = nc;
	}
	if (q->bytes_len + len + 1 > *bcap) {
		size_t nb = *bcap ? *bcap : 65536;
		char *b;

		while (nb < q->bytes_len + len + 1)
			nb *= 2;
		b = realloc(q->bytes, nb);
		if (!b)
			return -1;
		q->bytes = b;
		*bcap = nb;
	}
	if (len)
		memcpy(q->bytes + q->bytes_len, p, len);
	q->rows[q->n].seq = (uint64_t)seq;
	q->rows[q->n].ts = ts;
	q->rows[q->n].off = q->bytes_len;
	q->rows[q->n].len = (uint32_t)len;
	q->bytes_len += len;
	q->n++;
	return 0;
}

static void
run_query(struct reader *rd, const char *path, struct tapeq_req *q)
{
	sqlite3_stmt *st;
	uint32_t cap = 0;
	size_t bcap = 0;
	int rc;

	if (reader_open(rd, path, q->err, sizeof(q->err))) {
		q->failed = 1;
		return;
	}
	st = rd->st[q->kind];
	sqlite3_bind_text(st, 1, q->channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, q->epoch, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)(q->since > INT64_MAX ? INT64_MAX : q->since));
	sqlite3_bind_int64(st, 4, q->below && q->below <= INT64_MAX ? (sqlite3_int64)q->below : INT64_MAX);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)q->limit + 1);
	if (q->kind == TAPEQ_TIME) {
		sqlite3_bind_int64(st, 6, q->from_ms);
		sqlite3_bind_int64(st, 7, q->to_ms);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		size_t len = (size_t)sqlite3_column_bytes(st, 2);
		const void *p = sqlite3_column_blob(st, 2);

		if (q->n == q->limit || (q->n && q->bytes_len + len > q->max_bytes)) {
			q->more = 1;
			break;
		}
		if (add_row(q, &cap, &bcap, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), p, len)) {
			snprintf(q->err, sizeof(q->err), "out of memory reading the tape");
			q->failed = 1;
			break;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		snprintf(q->err, sizeof(q->err), "reading the tape failed: %s", sqlite3_errmsg(rd->db));
		q->failed = 1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (q->failed) {
		/* a replaced or damaged file: open it afresh next time */
		reader_close(rd);
		return;
	}
	if (q->kind == TAPEQ_NEWEST)	/* read newest first: hand them oldest first */
		for (uint32_t i = 0; i < q->n / 2; i++) {
			struct tapeq_row t = q->rows[i];

			q->rows[i] = q->rows[q->n - 1 - i];
			q->rows[q->n - 1 - i] = t;
		}
}

static void *
thread_main(void *arg)
{
	struct tapeq *t = arg;
	struct reader rd = { 0 };

	pthread_mutex_lock(&t->mu);
	for (;;) {
		struct tapeq_req *q;

		while (!t->stop && !t->todo_head)
			pthread_cond_wait(&t->cv, &t->mu);
		if (t->stop)
			break;
		q = t->todo_head;
		t->todo_head = q->next;
		if (!t->todo_head)
			t->todo_tail = NULL;
		pthread_mutex_unlock(&t->mu);

		run_query(&rd, t->path, q);

		pthread_mutex_lock(&t->mu);
		q->next = NULL;
		if (t->done_tail)
			t->done_tail->next = q;
		else
			t->done_head = q;
		t->done_tail = q;
		t->queries++;
		t->failures += (uint64_t)q->failed;
		if (t->ctx)
			lws_cancel_service(t->ctx);
	}
	pthread_mutex_unlock(&t->mu);
	reader_close(&rd);
	return NULL;
}

int
tapeq_start(struct tapeq *t, const char *path, struct lws_context *ctx)
{
	memset(t, 0, sizeof(*t));
	t->path = strdup(path);
	t->ctx = ctx;
	if (!t->path)
		return -1;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	if (pthread_create(&t->th, NULL, thread_main, t)) {
		pthread_mutex_destroy(&t->mu);
		pthread_cond_destroy(&t->cv);
		free(t->path);
		t->path = NULL;
		return -1;
	}
	t->started = 1;
	return 0;
}

int
tapeq_submit(struct tapeq *t, struct tapeq_req *q)
{
	pthread_mutex_lock(&t->mu);
	if (!t->started || t->n_queued >= TAPEQ_MAX_QUEUED) {
		t->refused++;
		pthread_mutex_unlock(&t->mu);
		return -1;
	}
	q->next = NULL;
	q->cancelled = 0;
	if (t->todo_tail)
		t->todo_tail->next = q;
	else
		t->todo_head = q;
	t->todo_tail = q;
	t->n_queued++;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	return 0;
}

void
tapeq_cancel(struct tapeq_req *q)
{
	if (q)
		q->cancelled = 1;
}

int
tapeq_poll(struct tapeq *t)
{
	struct tapeq_req *q, *next;
	int n = 0;

	if (!t->started)
		return 0;
	pthread_mutex_lock(&t->mu);
	q = t->done_head;
	t->done_head = t->done_tail = NULL;
	pthread_mutex_unlock(&t->mu);
	for (; q; q = next) {
		next = q->next;
		q->next = NULL;
		pthread_mutex_lock(&t->mu);
		t->n_queued--;
		pthread_mutex_unlock(&t->mu);
		if (q->cancelled)
			tapeq_req_free(q);
		else
			q->done(q);
		n++;
	}
	return n;
}

static void
free_list(struct tapeq_req *q)
{
	while (q) {
		struct tapeq_req *next = q->next;

		tapeq_req_free(q);
		q = next;
	}
}

void
tapeq_stop(struct tapeq *t)
{
	if (!t->started || t->stop)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = 1;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->th, NULL);
}

void
tapeq_free(struct tapeq *t)
{
	if (!t->started)
		return;
	tapeq_stop(t);
	free_list(t->todo_head);
	free_list(t->done_head);
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->cv);
	free(t->path);
	memset(t, 0, sizeof(*t));
}

void
tapeq_req_free(struct tapeq_req *q)
{
	if (!q)
		return;
	free(q->rows);
	free(q->bytes);
	free(q);
}
