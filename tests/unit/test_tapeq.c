/* test_tapeq.c: the tape's reader thread against real SQLite files in the
 * recorder's schema: each kind of query, limits and "more", the byte cap,
 * the epoch filter, a missing file and one that is not SQLite, a
 * cancelled query, and the bound on queued queries. No lws context: the
 * test polls. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "tapeq.h"

#define EPOCH "00000000000000aa"

static char dir[64];
static char path[128];
static int n_done;
static struct tapeq_req *last;

static void
make_tape(int n)
{
	sqlite3 *db;
	char sql[512];

	CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_EQ_INT(sqlite3_exec(db,
		"PRAGMA journal_mode=WAL;"
		"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
		"CREATE TABLE frames (id INTEGER PRIMARY KEY, channel TEXT NOT NULL, epoch TEXT NOT NULL,"
		" seq INTEGER NOT NULL, ts INTEGER NOT NULL, payload TEXT NOT NULL);"
		"CREATE UNIQUE INDEX frames_seq ON frames(channel, epoch, seq);"
		"CREATE INDEX frames_ts ON frames(channel, ts);"
		"BEGIN;", NULL, NULL, NULL), SQLITE_OK);
	for (int i = 1; i <= n; i++) {
		/* seq i at ts 1000 * i; another channel and another epoch interleaved */
		snprintf(sql, sizeof(sql), "INSERT INTO frames (channel, epoch, seq, ts, payload) VALUES "
			 "('flow-alerts', '" EPOCH "', %d, %d, '{\"n\":%d}'),"
			 "('news', '" EPOCH "', %d, %d, '{}'),"
			 "('flow-alerts', 'ffffffffffffffff', %d, %d, '{}');", i, 1000 * i, i, i, 1000 * i, i,
			 1000 * i);
		CHECK_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	}
	CHECK_EQ_INT(sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void
done(struct tapeq_req *q)
{
	n_done++;
	tapeq_req_free(last);
	last = q;
}

static struct tapeq_req *
req(int kind, uint64_t since, uint64_t below, uint32_t limit)
{
	struct tapeq_req *q = calloc(1, sizeof(*q));

	q->kind = kind;
	strcpy(q->channel, "flow-alerts");
	strcpy(q->epoch, EPOCH);
	q->since = since;
	q->below = below;
	q->limit = limit;
	q->max_bytes = 1 << 20;
	q->from_ms = INT64_MIN;
	q->to_ms = INT64_MAX;
	q->done = done;
	return q;
}

/* Submits q and polls until its answer is back. */
static struct tapeq_req *
run(struct tapeq *t, struct tapeq_req *q)
{
	int before = n_done;

	CHECK_EQ_INT(tapeq_submit(t, q), 0);
	for (int i = 0; i < 5000 && n_done == before; i++) {
		usleep(1000);
		tapeq_poll(t);
	}
	CHECK_EQ_INT(n_done, before + 1);
	return last;
}

static void
check_seqs(const struct tapeq_req *q, uint64_t first, uint32_t n)
{
	CHECK_EQ_INT(q->failed, 0);
	CHECK_EQ_UINT(q->n, n);
	for (uint32_t i = 0; i < q->n && i < n; i++)
		CHECK_EQ_UINT(q->rows[i].seq, first + i);
}

static void
test_queries(void)
{
	struct tapeq t;
	struct tapeq_req *q;
	char p[32];

	make_tape(50);
	CHECK_EQ_INT(tapeq_start(&t, path, NULL), 0);

	q = run(&t, req(TAPEQ_SINCE, 10, 0, 5));
	check_seqs(q, 11, 5);
	CHECK_EQ_INT(q->more, 1);
	CHECK_EQ_INT(q->rows[0].ts, 11000);
	snprintf(p, sizeof(p), "{\"n\":%d}", 11);
	CHECK_MEM(q->bytes + q->rows[0].off, q->rows[0].len, p, strlen(p));

	q = run(&t, req(TAPEQ_SINCE, 40, 0, 100));
	check_seqs(q, 41, 10);
	CHECK_EQ_INT(q->more, 0);

	q = run(&t, req(TAPEQ_SINCE, 0, 21, 100));	/* below: seq < 21 */
	check_seqs(q, 1, 20);
	CHECK_EQ_INT(q->more, 0);

	q = run(&t, req(TAPEQ_NEWEST, 0, 31, 4));	/* newest below 31, oldest first */
	check_seqs(q, 27, 4);

	q = req(TAPEQ_TIME, 0, 0, 100);
	q->from_ms = 5000;
	q->to_ms = 9000;
	q = run(&t, q);
	check_seqs(q, 5, 4);				/* ts 5000..8000: to is excluded */

	q = req(TAPEQ_TIME, 6, 0, 2);			/* since narrows a time range */
	q->from_ms = 5000;
	q = run(&t, q);
	check_seqs(q, 7, 2);
	CHECK_EQ_INT(q->more, 1);

	q = req(TAPEQ_SINCE, 0, 0, 100);
	q->max_bytes = 20;				/* {"n":1}..: 7 or 8 bytes each */
	q = run(&t, q);
	CHECK_EQ_UINT(q->n, 2);
	CHECK_EQ_INT(q->more, 1);

	q = req(TAPEQ_SINCE, 0, 0, 100);
	strcpy(q->epoch, "0123456789abcdef");	/* no row in that epoch */
	q = run(&t, q);
	check_seqs(q, 1, 0);

	tapeq_free(&t);
	tapeq_req_free(last);
	last = NULL;
}

static void
test_bad_files(void)
{
	struct tapeq t;
	struct tapeq_req *q;
	FILE *f;

	CHECK_EQ_INT(tapeq_start(&t, path, NULL), 0);	/* not there yet */
	q = run(&t, req(TAPEQ_SINCE, 0, 0, 10));
	CHECK_EQ_INT(q->failed, 1);
	CHECK_CONTAINS(q->err, "cannot open");
	f = fopen(path, "w");
	CHECK(f != NULL);
	for (int i = 0; i < 100; i++)
		fputs("this is not SQLite\n", f);
	fclose(f);
	q = run(&t, req(TAPEQ_SINCE, 0, 0, 10));
	CHECK_EQ_INT(q->failed, 1);
	CHECK(q->err[0] != '\0');
	unlink(path);
	make_tape(3);					/* created later: read at the next query */
	q = run(&t, req(TAPEQ_SINCE, 0, 0, 10));
	check_seqs(q, 1, 3);
	tapeq_free(&t);
	tapeq_req_free(last);
	last = NULL;
}

static void
test_cancel_and_bound(void)
{
	struct tapeq t;
	struct tapeq_req *q[TAPEQ_MAX_QUEUED], *extra;
	int before;

	make_tape(20);
	CHECK_EQ_INT(tapeq_start(&t, path, NULL), 0);
	before = n_done;
	for (int i = 0; i < TAPEQ_MAX_QUEUED; i++) {
		q[i] = req(TAPEQ_SINCE, 0, 0, 10);
		CHECK_EQ_INT(tapeq_submit(&t, q[i]), 0);
	}
	extra = req(TAPEQ_SINCE, 0, 0, 10);
	CHECK_EQ_INT(tapeq_submit(&t, extra), -1);	/* the bound: still the caller's */
	for (int i = 0; i < TAPEQ_MAX_QUEUED; i += 2)
		tapeq_cancel(q[i]);			/* half the clients went away */
	for (int i = 0; i < 5000 && n_done < before + TAPEQ_MAX_QUEUED / 2; i++) {
		usleep(1000);
		tapeq_poll(&t);
	}
	CHECK_EQ_INT(n_done, before + TAPEQ_MAX_QUEUED / 2);
	CHECK_EQ_UINT(t.n_queued, 0);
	CHECK_EQ_INT(tapeq_submit(&t, extra), 0);	/* room again */
	tapeq_free(&t);				/* frees extra unseen */
	tapeq_req_free(last);
	last = NULL;
}

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_tapeq.XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/tape.db", dir);
}

static void
cleanup(void)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char p[160];

	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
		unlink(p);
	}
}

static void
test_all(void)
{
	setup();
	test_queries();
	cleanup();
	test_bad_files();
	cleanup();
	test_cancel_and_bound();
	cleanup();
	rmdir(dir);
}

CHECK_MAIN(CHECK_TEST(test_all))
