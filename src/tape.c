/* tape.c: the tape's writer thread, the buffers it takes frames from and
 * what it reports (see tape.h); the SQLite file itself is tapedb.c.
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
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "clock.h"
#include "log.h"
#include "promtext.h"
#include "tape.h"
#include "tapedb.h"
#include "tapebuf.h"

#define QUEUE_BYTES (16u << 20)		/* per buffer; two of them */
#define BATCH_MS 50			/* the longest a frame waits in the buffer */
#define RETENTION_EVERY_MS 10000
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

enum tape_state { TS_STARTING = 0, TS_RECORDING, TS_FAILING };
static const char *const state_names[] = { "starting", "recording", "failing" };

struct tape {
	char *path;
	char **names;		/* the taped channels */
	size_t n_chan;
	uint64_t *last_seq;	/* per channel, in the tape at start */
	uint64_t *last_given;	/* loop: per channel, the last seq handed to tape_record */
	uint64_t *given_at_stop;	/* last_given, copied at tape_close */
	int64_t max_age_s, max_bytes;
	char epoch[17];

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct tapebuf q[2];
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

	/* writer only (and the loop before the writer starts) */
	struct tapedb d;
	uint64_t retry_at, backoff_ms, next_retention_ms;

	/* loop only: what was logged */
	int logged_state;
	uint64_t logged_lost, logged_recoveries;
	struct log_ratelimit rl;
};

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

/* The database failed: its sentence becomes the tape's last error. */
static void
note_error(struct tape *t)
{
	pthread_mutex_lock(&t->mu);
	snprintf(t->last_error, sizeof(t->last_error), "%s", t->d.err);
	t->write_errors++;
	pthread_mutex_unlock(&t->mu);
}

static void *
writer_main(void *arg)
{
	struct tape *t = arg;

	pthread_mutex_lock(&t->mu);
	for (;;) {
		uint64_t now = clock_mono_ms(), wake = now + 60000;
		struct tapebuf *q = &t->q[t->front], *batch = NULL;
		int retry_due = now >= t->retry_at, ret_due = 0, open_due, rc;

		if (q->n && (t->stop || (retry_due && (q->len >= q->cap / 4 || now >= q->first_ms + BATCH_MS))))
			batch = q;
		else if (q->n)
			wake = retry_due ? q->first_ms + BATCH_MS : t->retry_at;
		open_due = !t->d.db && retry_due && !t->stop;
		if (!open_due && !t->d.db && t->retry_at < wake)
			wake = t->retry_at;
		/* also without limits: the pass measures the file for status */
		if (t->d.db && !t->stop) {
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

		if (!t->d.db && (open_due || batch) && tapedb_open(&t->d, 0))
			note_error(t);
		if (!t->d.db) {
			failed(t, now);
			pthread_mutex_lock(&t->mu);
			t->state = TS_FAILING;
			if (batch) {
				t->write_failed += batch->n;
				tapebuf_clear(batch);
			}
			continue;
		}
		if (batch) {
			uint64_t bytes = 0;
			int64_t newest = 0;

			rc = tapedb_write(&t->d, batch, &bytes, &newest);
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
			tapebuf_clear(batch);
			pthread_mutex_unlock(&t->mu);
			if (rc != SQLITE_OK) {
				note_error(t);
				failed(t, now);
				/* a file replaced or made unusable under us is opened
				 * afresh at the next try */
				if (rc != SQLITE_FULL && rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
					tapedb_close(&t->d, NULL);
			}
		} else if (t->state != TS_RECORDING) {
			pthread_mutex_lock(&t->mu);
			if (t->state == TS_FAILING)
				t->recoveries++;
			t->state = TS_RECORDING;
			t->backoff_ms = 0;
			pthread_mutex_unlock(&t->mu);
		}
		if (ret_due && t->d.db) {
			uint64_t deleted = 0, file = 0, used = 0;

			if (tapedb_retention(&t->d, t->max_age_s, t->max_bytes, &deleted, &file, &used))
				note_error(t);
			pthread_mutex_lock(&t->mu);
			t->retention_deleted += deleted;
			t->file_bytes = file;
			t->used_bytes = used;
			pthread_mutex_unlock(&t->mu);
			t->next_retention_ms = clock_mono_ms() + RETENTION_EVERY_MS;
		}
		pthread_mutex_lock(&t->mu);
	}
	pthread_mutex_unlock(&t->mu);
	tapedb_close(&t->d, t->given_at_stop);
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
	t->names = calloc(n ? n : 1, sizeof(*t->names));
	t->last_seq = calloc(n ? n : 1, sizeof(*t->last_seq));
	t->last_given = calloc(n ? n : 1, sizeof(*t->last_given));
	t->given_at_stop = calloc(n ? n : 1, sizeof(*t->given_at_stop));
	if (!t->path || !t->names || !t->last_seq || !t->last_given || !t->given_at_stop ||
	    tapebuf_init(&t->q[0], QUEUE_BYTES) || tapebuf_init(&t->q[1], QUEUE_BYTES))
		goto oom;
	t->n_chan = n;
	for (size_t i = 0; i < n; i++)
		if (!(t->names[i] = strdup(channels[i])))
			goto oom;
	t->max_age_s = max_age_s;
	t->max_bytes = max_bytes;
	t->d.path = t->path;
	t->d.names = t->names;
	t->d.n = n;
	t->d.last_seq = t->last_seq;
	memcpy(t->d.epoch, fresh_epoch, 16);
	t->d.epoch[16] = '\0';
	if (tapedb_open(&t->d, 1)) {
		snprintf(t->last_error, sizeof(t->last_error), "%s", t->d.err);
		t->write_errors++;
		t->state = TS_FAILING;
		t->retry_at = clock_mono_ms() + (t->backoff_ms = BACKOFF_MIN_MS);
		log_msg(LOG_ERR, "tape: %s: %s; relaying goes on without recording, retrying", t->path,
			t->last_error);
	} else {
		t->state = TS_RECORDING;
		log_msg(LOG_INFO, "tape: recording %zu channel(s) to %s (epoch %s)", n, t->path, t->epoch);
	}
	/* the taped channels' epoch for this run: the file's, or the fresh one */
	memcpy(t->epoch, t->d.epoch, 17);
	t->logged_state = t->state;
	if (pthread_create(&t->thr, NULL, writer_main, t)) {
		log_msg(LOG_ERR, "tape: cannot start the writer thread: %s", strerror(errno));
		tapedb_close(&t->d, NULL);
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
			t->given_at_stop[i] = t->last_given[i];
		t->stop = 1;
		pthread_cond_signal(&t->cv);
		pthread_mutex_unlock(&t->mu);
		pthread_join(t->thr, NULL);
		log_msg(LOG_INFO, "tape: closed %s: %llu frame(s) recorded, %llu not recorded", t->path,
			(unsigned long long)t->recorded,
			(unsigned long long)(t->dropped_full + t->dropped_big + t->write_failed));
	}
	tapedb_close(&t->d, NULL);
	for (size_t i = 0; t->names && i < t->n_chan; i++)
		free(t->names[i]);
	free(t->names);
	free(t->last_seq);
	free(t->last_given);
	free(t->given_at_stop);
	free(t->path);
	tapebuf_free(&t->q[0]);
	tapebuf_free(&t->q[1]);
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
	return i < t->n_chan ? t->last_seq[i] : 0;
}

size_t
tape_n_channels(const struct tape *t)
{
	return t->n_chan;
}

const char *
tape_channel_name(const struct tape *t, size_t i)
{
	return i < t->n_chan ? t->names[i] : NULL;
}

void
tape_record(struct tape *t, size_t i, const char *epoch, uint64_t seq, int64_t ts, const char *payload,
	    size_t len)
{
	struct tapebuf *q;

	if (i >= t->n_chan)
		return;
	t->last_given[i] = seq;
	pthread_mutex_lock(&t->mu);
	q = &t->q[t->front];
	if (tapebuf_put(q, (uint16_t)i, epoch, seq, ts, payload, len)) {
		if (tapebuf_rec_size(len) > q->cap)
			t->dropped_big++;
		else
			t->dropped_full++;
	} else if (q->n == 1) {
		q->first_ms = clock_mono_ms();
		pthread_cond_signal(&t->cv);
	} else if (q->len >= q->cap / 4 && q->len - tapebuf_rec_size(len) < q->cap / 4)
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
		cJSON_AddItemToArray(a, cJSON_CreateString(t->names[i]));
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

void
tape_metrics(struct tape *t, FILE *f)
{
	struct tape_snap s;

	promtext_head(f, "tape_enabled", "gauge", "1 when a tape is configured.");
	fprintf(f, "uwrelay_tape_enabled %d\n", t != NULL);
	if (!t)
		return;
	snap(t, &s);
	promtext_head(f, "tape_up", "gauge", "1 while the tape is being written, 0 while writes fail.");
	fprintf(f, "uwrelay_tape_up %d\n", s.state == TS_RECORDING);
	promtext_head(f, "tape_frames_recorded_total", "counter", "Frames stored in the tape.");
	fprintf(f, "uwrelay_tape_frames_recorded_total %llu\n", (unsigned long long)s.recorded);
	promtext_head(f, "tape_bytes_recorded_total", "counter", "Payload bytes stored in the tape.");
	fprintf(f, "uwrelay_tape_bytes_recorded_total %llu\n", (unsigned long long)s.recorded_bytes);
	promtext_head(f, "tape_transactions_total", "counter", "Transactions committed by the tape writer.");
	fprintf(f, "uwrelay_tape_transactions_total %llu\n", (unsigned long long)s.batches);
	promtext_head(f, "tape_frames_not_recorded_total", "counter", "Frames of taped channels not stored, by reason.");
	fprintf(f, "uwrelay_tape_frames_not_recorded_total{reason=\"queue_full\"} %llu\n",
		(unsigned long long)s.dropped_full);
	fprintf(f, "uwrelay_tape_frames_not_recorded_total{reason=\"too_large\"} %llu\n",
		(unsigned long long)s.dropped_big);
	fprintf(f, "uwrelay_tape_frames_not_recorded_total{reason=\"write_failed\"} %llu\n",
		(unsigned long long)s.write_failed);
	promtext_head(f, "tape_write_errors_total", "counter", "Failed attempts to open or write the tape.");
	fprintf(f, "uwrelay_tape_write_errors_total %llu\n", (unsigned long long)s.write_errors);
	promtext_head(f, "tape_queued_bytes", "gauge", "Bytes waiting for the tape writer.");
	fprintf(f, "uwrelay_tape_queued_bytes %llu\n", (unsigned long long)s.queued_bytes);
	promtext_head(f, "tape_file_bytes", "gauge", "Size of the tape file (at the last retention pass).");
	fprintf(f, "uwrelay_tape_file_bytes %llu\n", (unsigned long long)s.file_bytes);
	promtext_head(f, "tape_retention_deleted_total", "counter", "Frames deleted by retention.");
	fprintf(f, "uwrelay_tape_retention_deleted_total %llu\n", (unsigned long long)s.retention_deleted);
}
