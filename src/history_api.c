/* history_api.c: GET /api/stream/history (see history_api.h).
 *
 * Three ways to ask, one shape of answer:
 * - neither since nor from: the newest `limit` frames;
 * - since=SEQ: frames with seq > SEQ (epoch, if given, must be current);
 * - from/to: frames received in [from, to) (since may narrow it: that is
 *   how the next page of a time range is asked for).
 * Always oldest first, and `next` is the query of the page after.
 *
 * Memory first: a channel's history ring holds the very envelopes the
 * subscribers got, so a covered request costs a copy of each and nothing
 * else. What memory no longer holds is read from the tape below the
 * oldest seq in memory (tapeq.c, off the loop); when the tape's part comes
 * back, memory's frames after it are appended, so a page that spans both
 * has no seam. The recorder writes the tape a batch behind the loop, which
 * is why memory, not the tape, serves the newest frames. */
#define _GNU_SOURCE /* memmem */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include "chname.h"
#include "climsg.h"
#include "envelope.h"
#include "history_api.h"
#include "isotime.h"
#include "query.h"
#include "relay_state.h"
#include "tapeq.h"

struct hparams {
	char channel[CHNAME_MAX + 1];
	char epoch[17];
	int has_since, has_from, has_to, ndjson, limit_given;
	uint64_t since;
	int64_t from_ms, to_ms;
	uint32_t limit;
};

struct history_job {
	struct tapeq_req *q;
	struct relay *r;
	struct hparams p;
	void (*done)(void *arg, struct http_answer *a);
	void *arg;
};

/* The answer as it is built: envelopes joined by "," (JSON) or "\n". */
struct body {
	char *b;
	size_t len, cap;
	uint32_t n;
	uint64_t last_seq;
	int full;		/* HISTORY_ANSWER_MAX reached */
	int oom;
};

const char *
history_api_epoch(const struct relay *r, const struct reg_channel *ch)
{
	return ch ? relay_channel_epoch(r, ch) : r->epoch;
}

/* Reserves room for n more bytes. Returns 0, or -1 out of memory. */
static int
body_reserve(struct body *b, size_t n)
{
	if (b->len + n > b->cap) {
		size_t nc = b->cap ? b->cap : 4096;
		char *nb;

		while (nc < b->len + n)
			nc *= 2;
		nb = realloc(b->b, nc);
		if (!nb) {
			b->oom = 1;
			return -1;
		}
		b->b = nb;
		b->cap = nc;
	}
	return 0;
}

/* Adds one envelope, head + payload + tail (tail_len 0 or 1: "}").
 * Returns 0, or -1 if it does not fit (full or OOM). */
static int
body_env3(struct body *b, const struct hparams *p, const void *head, size_t hl, const void *payload,
	  size_t pl, size_t tail_len, uint64_t seq)
{
	size_t len = hl + pl + tail_len;

	if (b->len + len + 1 > HISTORY_ANSWER_MAX && b->n) {
		b->full = 1;
		return -1;
	}
	if (body_reserve(b, len + 2))
		return -1;
	if (b->n && !p->ndjson)
		b->b[b->len++] = ',';
	memcpy(b->b + b->len, head, hl);
	memcpy(b->b + b->len + hl, payload, pl);
	b->len += hl + pl;
	if (tail_len)
		b->b[b->len++] = '}';
	if (p->ndjson)
		b->b[b->len++] = '\n';
	b->n++;
	b->last_seq = seq;
	return 0;
}

static int
body_env(struct body *b, const struct hparams *p, const void *env, size_t len, uint64_t seq)
{
	return body_env3(b, p, env, len, "", 0, 0, seq);
}

/* Starts the answer: the JSON wrapper's head goes first, so envelopes
 * are written once, in place. reserve: bytes expected. */
static int
body_init(struct body *b, const struct hparams *p, size_t reserve)
{
	memset(b, 0, sizeof(*b));
	if (body_reserve(b, reserve + 64 + sizeof(p->channel)))
		return -1;
	if (!p->ndjson)
		b->len = (size_t)snprintf(b->b, b->cap, "{\"channel\":\"%s\",\"envelopes\":[", p->channel);
	return 0;
}

/* The receive time of a history frame, read back from its envelope. */
static int64_t
frame_ts(const struct frame *f)
{
	static const char key[] = "\"timestamp\":\"";
	const char *d = (const char *)f->buf + FRAME_PRE;
	size_t n = f->len < 256 ? f->len : 256;
	const char *k = memmem(d, n, key, sizeof(key) - 1);
	char ts[25];
	int64_t ms;

	if (!k || (size_t)(k - d) + sizeof(key) - 1 + 24 > f->len)
		return 0;
	memcpy(ts, k + sizeof(key) - 1, 24);
	ts[24] = '\0';
	return isotime_parse(ts, &ms) ? 0 : ms;
}

static int
wanted(const struct hparams *p, uint64_t seq, int64_t ts)
{
	return (!p->has_since || seq > p->since) && (!p->has_from || ts >= p->from_ms) &&
	       (!p->has_to || ts < p->to_ms);
}

/* Appends memory's frames of ch with seq > after that p wants, up to the
 * limit. Returns 1 if more frames it wants are held beyond what fitted. */
static int
append_memory(struct body *b, const struct hparams *p, const struct reg_channel *ch, uint64_t after)
{
	const struct history *h = &ch->hist;
	int timed = p->has_from || p->has_to;

	for (uint32_t i = history_index_after(h, after); i < h->count; i++) {
		struct frame *f = history_at(h, i);

		if (timed && !wanted(p, f->seq, frame_ts(f))) {
			if (p->has_to && frame_ts(f) >= p->to_ms)
				return 0;	/* frames are in time order: the rest are later */
			continue;
		}
		if (b->n >= p->limit || body_env(b, p, frame_data(f), f->len, f->seq))
			return 1;
	}
	return 0;
}

/* Finishes the answer from b: the JSON wrapper, or NDJSON with Link. */
static int
finish(struct http_answer *a, const struct hparams *p, struct body *b, int more)
{
	char next[400] = "", link[480];
	char *out = NULL;
	size_t n = 0;

	if (b->oom)
		return -1;
	if (more && b->n) {
		char from[25], to[25];

		int len = snprintf(next, sizeof(next), "channel=%s&since=%llu&epoch=%s", p->channel,
				   (unsigned long long)b->last_seq, p->epoch);
		if (p->has_from) {
			envelope_time(p->from_ms, from);
			len += snprintf(next + len, sizeof(next) - (size_t)len, "&from=%s", from);
		}
		if (p->has_to) {
			envelope_time(p->to_ms, to);
			len += snprintf(next + len, sizeof(next) - (size_t)len, "&to=%s", to);
		}
		if (p->limit_given)
			len += snprintf(next + len, sizeof(next) - (size_t)len, "&limit=%u", p->limit);
		if (p->ndjson)
			snprintf(next + len, sizeof(next) - (size_t)len, "&format=ndjson");
	}
	httpans_init(a, 200);
	if (p->ndjson && next[0]) {
		snprintf(link, sizeof(link), "<%s?%s>; rel=\"next\"", HISTORY_API_PATH, next);
		httpans_header(a, "Link", link);
	}
	if (!p->ndjson) {
		if (body_reserve(b, strlen(next) + 40))
			return -1;
		if (next[0])
			b->len += (size_t)snprintf(b->b + b->len, b->cap - b->len,
						   "],\"more\":true,\"next\":\"%s\"}", next);
		else
			b->len += (size_t)snprintf(b->b + b->len, b->cap - b->len,
						   "],\"more\":false,\"next\":null}");
	}
	out = b->b;
	n = b->len;
	b->b = NULL;
	if (!out && !(out = strdup("")))
		return -1;
	a->ctype = p->ndjson ? "application/x-ndjson" : "application/json";
	a->owned = out;
	a->body = out;
	a->len = n;
	return 0;
}

/* A refusal: {"error": code, "message": msg}. */
static int
refuse(struct http_answer *a, unsigned status, const char *code, const char *msg, const char *epoch)
{
	cJSON *o = cJSON_CreateObject();
	char *txt;

	cJSON_AddStringToObject(o, "error", code);
	cJSON_AddStringToObject(o, "message", msg);
	if (epoch)
		cJSON_AddStringToObject(o, "epoch", epoch);
	txt = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!txt)
		return -1;
	httpans_init(a, status);
	a->ctype = "application/json";
	a->owned = txt;
	a->body = txt;
	a->len = strlen(txt);
	return 0;
}

static int
parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* Reads the query into p. Returns NULL, or why it is malformed. */
static const char *
parse(const char *qs, size_t qlen, struct hparams *p, int *status)
{
	char v[128];
	long n;
	uint64_t u;

	*status = 400;
	n = qs ? query_get(qs, qlen, "channel", v, sizeof(v)) : QUERY_ABSENT;
	if (n == QUERY_ABSENT || n == 0)
		return "channel is required";
	if (n < 0)
		return "malformed channel";
	if ((size_t)n > CHNAME_MAX || !chname_valid(v, (size_t)n)) {
		*status = 404;
		return "no such channel";
	}
	memcpy(p->channel, v, (size_t)n + 1);
	n = query_get(qs, qlen, "since", v, sizeof(v));
	if (n != QUERY_ABSENT) {
		if (n < 0 || parse_u64(v, &p->since))
			return "since must be a whole number";
		p->has_since = 1;
	}
	n = query_get(qs, qlen, "epoch", v, sizeof(v));
	if (n != QUERY_ABSENT) {
		if (n < 0 || !climsg_epoch_valid(v))
			return "epoch must be 16 hex digits";
		memcpy(p->epoch, v, 17);
	}
	n = query_get(qs, qlen, "from", v, sizeof(v));
	if (n != QUERY_ABSENT) {
		if (n < 0 || isotime_parse(v, &p->from_ms))
			return "from must be an ISO 8601 time, e.g. 2026-12-03T14:30:00Z";
		p->has_from = 1;
	}
	n = query_get(qs, qlen, "to", v, sizeof(v));
	if (n != QUERY_ABSENT) {
		if (n < 0 || isotime_parse(v, &p->to_ms))
			return "to must be an ISO 8601 time, e.g. 2026-12-03T16:00:00Z";
		p->has_to = 1;
	}
	if (p->has_from && p->has_to && p->to_ms <= p->from_ms)
		return "to must be later than from";
	p->limit = HISTORY_LIMIT_DEFAULT;
	n = query_get(qs, qlen, "limit", v, sizeof(v));
	if (n != QUERY_ABSENT) {
		if (n < 0 || parse_u64(v, &u) || u < 1 || u > HISTORY_LIMIT_MAX)
			return "limit must be a whole number from 1 to 10000";
		p->limit = (uint32_t)u;
		p->limit_given = 1;
	}
	n = query_get(qs, qlen, "format", v, sizeof(v));
	if (n != QUERY_ABSENT) {
		if (n >= 0 && !strcmp(v, "ndjson"))
			p->ndjson = 1;
		else if (n < 0 || strcmp(v, "json"))
			return "format must be json or ndjson";
	}
	if (p->epoch[0] && !p->has_since)
		return "epoch goes with since";
	return NULL;
}

/* Whether memory holds all that p asks for (or everything there is). */
static int
memory_covers(const struct hparams *p, const struct reg_channel *ch)
{
	const struct history *h = &ch->hist;
	uint64_t first = history_first_seq(h);

	if (p->has_since && p->since >= ch->seq)
		return 1;	/* nothing newer exists */
	if (!h->count)
		return 0;
	if (first <= 1 || (p->has_since && p->since + 1 >= first))
		return 1;
	if (p->has_from)
		return frame_ts(history_at(h, 0)) <= p->from_ms;
	if (!p->has_since && !p->has_to)
		return h->count >= p->limit;	/* the newest `limit` */
	return 0;
}

/* Newest `limit` frames of memory (no since, no time): from this index. */
static uint64_t
newest_after(const struct hparams *p, const struct reg_channel *ch)
{
	const struct history *h = &ch->hist;

	if (h->count <= p->limit)
		return 0;
	return history_at(h, h->count - p->limit - 1)->seq;
}

/* The answer from memory alone. */
static int
from_memory(struct http_answer *a, const struct hparams *p, const struct reg_channel *ch)
{
	struct body b;
	int more = 0, rc;

	if (body_init(&b, p, 0))
		return -1;
	if (ch) {
		int recent = !p->has_since && !p->has_from && !p->has_to;

		more = append_memory(&b, p, ch, recent ? newest_after(p, ch) : p->has_since ? p->since : 0);
		if (recent)
			more = 0;
	}
	rc = finish(a, p, &b, more);
	free(b.b);
	return rc;
}

static void
job_done(struct tapeq_req *q)
{
	struct history_job *j = q->arg;
	struct relay *r = j->r;
	const struct hparams *p = &j->p;
	struct reg_channel *ch = registry_find(&r->reg, p->channel, strlen(p->channel));
	struct http_answer a;
	struct body b;
	/* older rows beyond a newest-first read do not make a next page */
	int more = q->kind == TAPEQ_NEWEST ? 0 : q->more;

	if (body_init(&b, p, q->bytes_len + (size_t)q->n * 160)) {
		httpans_init(&a, 500);
		goto out;
	}
	if (q->failed) {
		log_msg(LOG_WARN, "history: %s", q->err);
		if (refuse(&a, 503, "tape_unavailable", q->err, NULL))
			httpans_init(&a, 500);
		goto out;
	}
	for (uint32_t i = 0; i < q->n; i++) {
		const struct tapeq_row *row = &q->rows[i];
		char head[ENVELOPE_HEAD_MAX];
		size_t hl = envelope_head(head, p->channel, strlen(p->channel), row->seq, p->epoch, row->ts);

		if (!hl || body_env3(&b, p, head, hl, q->bytes + row->off, row->len, 1, row->seq)) {
			more = 1;
			break;
		}
	}
	/* the tape's part is older than memory: memory's frames follow it */
	if (!more && ch && b.n < p->limit)
		more = append_memory(&b, p, ch, b.n ? b.last_seq : p->has_since ? p->since : 0);
	else if (!more && ch && b.n && b.last_seq < ch->seq)
		more = 1;	/* the page ended where the tape's part did: memory's come next */
	if (!p->has_since && !p->has_from && !p->has_to)
		more = 0;	/* the newest: nothing comes after but live frames */
	if (finish(&a, p, &b, more))
		httpans_init(&a, 500);
out:
	free(b.b);
	tapeq_req_free(q);
	j->done(j->arg, &a);
	free(j);
}

int
history_api_request(struct relay *r, const char *query, size_t qlen, int ndjson,
		    struct http_answer *a, struct history_job **job,
		    void (*done)(void *arg, struct http_answer *a), void *arg)
{
	struct hparams p;
	struct reg_channel *ch;
	struct history_job *j;
	struct tapeq_req *q;
	const char *why, *epoch;
	int st;

	memset(&p, 0, sizeof(p));
	*job = NULL;
	p.ndjson = ndjson;
	why = parse(query, qlen, &p, &st);
	if (why)
		return refuse(a, (unsigned)st, st == 404 ? "unknown_channel" : "bad_request", why, NULL);
	if (!chname_allowed((const char *const *)r->cfg.allowed_channels, r->cfg.n_allowed, p.channel,
			    strlen(p.channel)) &&
	    !config_source_by_channel(&r->cfg, p.channel, strlen(p.channel)))
		return refuse(a, 403, "channel_not_allowed", "this relay does not serve that channel", NULL);
	ch = registry_find(&r->reg, p.channel, strlen(p.channel));
	epoch = history_api_epoch(r, ch);
	if (p.epoch[0] && strcmp(p.epoch, epoch))
		return refuse(a, 409, "epoch_changed",
			      "the channel's seqs started again since that epoch: ask by time, or without since",
			      epoch);
	memcpy(p.epoch, epoch, sizeof(p.epoch));
	if (!r->tape_reader || (ch && memory_covers(&p, ch)))
		return from_memory(a, &p, ch);

	j = calloc(1, sizeof(*j));
	q = calloc(1, sizeof(*q));
	if (!j || !q) {
		free(j);
		free(q);
		return -1;
	}
	j->r = r;
	j->p = p;
	j->done = done;
	j->arg = arg;
	j->q = q;
	memcpy(q->channel, p.channel, sizeof(q->channel));
	memcpy(q->epoch, p.epoch, sizeof(q->epoch));
	q->kind = p.has_from || p.has_to ? TAPEQ_TIME : p.has_since ? TAPEQ_SINCE : TAPEQ_NEWEST;
	q->since = p.has_since ? p.since : 0;
	q->below = ch && ch->hist.count ? history_first_seq(&ch->hist) : 0;
	q->from_ms = p.has_from ? p.from_ms : INT64_MIN;
	q->to_ms = p.has_to ? p.to_ms : INT64_MAX;
	q->limit = p.limit;
	if (q->kind == TAPEQ_NEWEST && ch && ch->hist.count < p.limit)
		q->limit = p.limit - ch->hist.count;
	q->max_bytes = HISTORY_ANSWER_MAX;
	q->done = job_done;
	q->arg = j;
	if (tapeq_submit(r->tape_reader, q)) {
		free(j);
		free(q);
		return refuse(a, 503, "busy", "too many history queries are waiting for the tape: try again",
			      NULL) ? -1 : 0;
	}
	*job = j;
	return 1;
}

void
history_api_cancel(struct history_job *job)
{
	if (!job)
		return;
	/* the tape's answer is freed unseen; the job goes with it */
	tapeq_cancel(job->q);
	job->q->done = NULL;
	job->q->arg = NULL;
	free(job);
}
