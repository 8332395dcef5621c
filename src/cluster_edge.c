/* cluster_edge.c: the edge role (see cluster.h).
 *
 * A channel's first subscriber starts a backfill (XREVRANGE of the stream
 * into the channel's history, so resume works at once, even for a browser
 * that moved here from another edge), then the reader's XREAD BLOCK
 * includes it from the last id seen. A change of the set interrupts the
 * blocked read (CLIENT UNBLOCK from the command link). When Redis comes
 * back, reading goes on from the last id of each channel. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "cluster_int.h"
#include "notify.h"
#include "relay_state.h"
#include "session.h"
#include "streamrec.h"

#define XREAD_COUNT "1000"
#define MAX_PENDING_RESUMES 10000	/* per channel, while its backfill runs */

enum { EC_IDLE = 0, EC_NEED_BACKFILL, EC_BACKFILLING, EC_READING };

struct pending_resume {
	struct session *s;
	uint64_t since;
	char epoch[17];
};

/* An edge's state for one channel (ch->user). */
struct edge_chan {
	int state;
	uint64_t last;		/* last seq taken from the stream */
	uint32_t gen;		/* bumps when a backfill's answer is no longer wanted */
	struct pending_resume *pend;
	size_t n_pend, cap_pend;
};

struct backfill_req {
	struct cluster *cl;
	uint32_t gen;
	char name[CHNAME_MAX + 1];
};


static void edge_kick_reader(struct cluster *cl);
static void edge_read(struct cluster *cl);

static struct edge_chan *
echan(struct reg_channel *ch)
{
	if (!ch->user)
		ch->user = calloc(1, sizeof(struct edge_chan));
	return ch->user;
}

static void
drop_pending(struct cluster *cl, struct edge_chan *e)
{
	cl->n_pending -= e->n_pend;
	free(e->pend);
	e->pend = NULL;
	e->n_pend = e->cap_pend = 0;
}

void
cluster_edge_evict(struct reg_channel *ch, void *arg)
{
	struct edge_chan *e = ch->user;

	if (e) {
		drop_pending(arg, e);
		free(e);
	}
	ch->user = NULL;
}

/* Tells the channel's subscribers about frames the stream no longer held. */
static void
gap_notice(struct relay *r, struct reg_channel *ch, uint64_t from, uint64_t to)
{
	cJSON *o = session_notice_new("gap", ch->name);

	cJSON_AddStringToObject(o, "reason", "trimmed");
	cJSON_AddNumberToObject(o, "from", (double)from);
	cJSON_AddNumberToObject(o, "to", (double)to);
	cJSON_AddStringToObject(o, "message",
				"these frames left the shared stream before this relay read them");
	session_send_notice(r, NULL, ch, o);
}

/* Redis lost its data (or someone reset the cluster): seqs start again. */
void
cluster_epoch_changed(struct cluster *cl, const char *epoch)
{
	struct relay *r = cl->relay;
	struct reg_channel *ch;
	uint32_t it;

	log_msg(LOG_WARN, "cluster: the cluster epoch changed from %s to %s (redis lost its data?): "
		"seqs start again", r->epoch, epoch);
	memcpy(r->epoch, epoch, 17);
	for (ch = registry_first(&r->reg, &it); ch; ch = registry_next(&r->reg, ch, &it)) {
		struct edge_chan *e = ch->user;

		history_clear(&ch->hist);
		ch->seq = 0;
		if (e)
			e->last = 0;
	}
	/* a blocked read still asks for ids after the old seqs */
	cl->set_changed = 1;
	edge_kick_reader(cl);
}

static void
deliver(struct cluster *cl, struct reg_channel *ch, const struct streamrec *rec, int fanout)
{
	struct relay *r = cl->relay;

	if (rec->epoch[0] && strcmp(rec->epoch, r->epoch))
		cluster_epoch_changed(cl, rec->epoch);
	relay_deliver(r, ch, rec->seq, rec->t_ms ? rec->t_ms : (int64_t)clock_now_ms(), clock_mono_us(),
		      rec->payload, rec->payload_len, fanout);
}

static void
bad_record(struct cluster *cl, const char *name, const char *why)
{
	cl->bad_records++;
	log_limited(&cl->rl, clock_mono_ms(), LOG_WARN, "cluster: skipped an entry of '%s': %s", name,
		    why);
}

static void
on_backfill(redisAsyncContext *ac, void *r, void *priv)
{
	struct backfill_req *bf = priv;
	struct cluster *cl = bf->cl;
	struct relay *rl = cl->relay;
	redisReply *rep = r;
	struct reg_channel *ch = cl->stopping ? NULL : registry_find(&rl->reg, bf->name, strlen(bf->name));
	struct edge_chan *e = ch ? ch->user : NULL;
	struct pending_resume *pend;
	size_t n_pend;

	(void)ac;
	if (!e || e->gen != bf->gen || e->state != EC_BACKFILLING) {
		free(bf);
		return;
	}
	free(bf);
	if (!cluster_reply_is(rep, REDIS_REPLY_ARRAY)) {
		if (cluster_reply_is(rep, REDIS_REPLY_ERROR))
			log_limited(&cl->rl, clock_mono_ms(), LOG_WARN, "cluster: reading '%s': %s",
				    ch->name, rep->str);
		e->state = EC_NEED_BACKFILL;	/* the tick tries again */
		return;
	}
	/* newest first: take them oldest first, into the history only */
	history_clear(&ch->hist);
	for (size_t i = rep->elements; i-- > 0;) {
		struct streamrec rec;
		const char *why;

		if (streamrec_parse(rep->element[i], &rec, &why)) {
			bad_record(cl, ch->name, why);
			if (rec.seq > e->last)
				e->last = rec.seq;
			continue;
		}
		deliver(cl, ch, &rec, 0);
		e->last = rec.seq;
	}
	e->state = EC_READING;
	/* resumes that waited for this */
	pend = e->pend;
	n_pend = e->n_pend;
	e->pend = NULL;
	e->n_pend = e->cap_pend = 0;
	cl->n_pending -= n_pend;
	for (size_t i = 0; i < n_pend; i++)
		if (registry_is_member(&((struct session *)pend[i].s)->sub, ch))
			session_resume(pend[i].s, ch, pend[i].since, pend[i].epoch);
	free(pend);
	cl->set_changed = 1;
	edge_kick_reader(cl);
}

static void
backfill(struct cluster *cl, struct reg_channel *ch)
{
	struct edge_chan *e = ch->user;
	struct backfill_req *bf = malloc(sizeof(*bf));
	char key[160], count[24];

	if (!bf)
		return;
	bf->cl = cl;
	bf->gen = ++e->gen;
	memcpy(bf->name, ch->name, ch->name_len + 1);
	cluster_stream_key(cl, ch->name, ch->name_len, key, sizeof(key));
	snprintf(count, sizeof(count), "%lld",
		 (long long)(cl->relay->cfg.history_size > 0 ? cl->relay->cfg.history_size : 1));
	if (rconn_cmdf(&cl->cmd, on_backfill, bf, "XREVRANGE %s + - COUNT %s", key, count)) {
		free(bf);
		return;
	}
	e->state = EC_BACKFILLING;
}

/* Refreshes this edge's wish for ch, or for every channel it serves. */
static void
send_interest(struct cluster *cl, struct reg_channel *only)
{
	struct relay *r = cl->relay;
	struct reg_channel *ch;
	uint32_t it, n = 0;
	const char **argv;
	size_t *lens;
	char ttl[24];

	argv = malloc(sizeof(*argv) * (r->reg.n_channels + 6));
	lens = malloc(sizeof(*lens) * (r->reg.n_channels + 6));
	if (!argv || !lens)
		goto out;
	snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)(r->cfg.cluster_interest_ttl * 1000));
	argv[0] = "EVALSHA", argv[1] = cl->sha_interest, argv[2] = "1", argv[3] = cl->k_wanted;
	argv[4] = ttl;
	n = 5;
	if (only)
		argv[n++] = only->name;
	else
		for (ch = registry_first(&r->reg, &it); ch; ch = registry_next(&r->reg, ch, &it))
			if (ch->n_members)
				argv[n++] = ch->name;
	for (uint32_t i = 0; i < n; i++)
		lens[i] = strlen(argv[i]);
	if (n > 5)
		rconn_cmd(&cl->cmd, cluster_on_ignore, cl, 0, (int)n, argv, lens);
out:
	free(argv);
	free(lens);
}

static void
on_unblocked(redisAsyncContext *ac, void *r, void *priv)
{
	struct cluster *cl = priv;

	(void)ac;
	(void)r;
	cl->unblock_inflight = 0;
}

/* The set of channels to read changed: a blocked XREAD must return. */
static void
edge_kick_reader(struct cluster *cl)
{
	if (!cl->xread_inflight) {
		edge_read(cl);
		return;
	}
	if (cl->reader_id > 0 && !cl->unblock_inflight &&
	    !rconn_cmdf(&cl->cmd, on_unblocked, cl, "CLIENT UNBLOCK %lld", cl->reader_id))
		cl->unblock_inflight = 1;
}

static void
on_xread(redisAsyncContext *ac, void *r, void *priv)
{
	struct cluster *cl = priv;
	struct relay *rl = cl->relay;
	redisReply *rep = r;

	(void)ac;
	cl->xread_inflight = 0;
	rconn_blocking_done(&cl->rd);
	if (!rep || cl->stopping)
		return;		/* link gone: reading starts again when it is back */
	if (rep->type == REDIS_REPLY_ERROR) {
		log_limited(&cl->rl, clock_mono_ms(), LOG_WARN, "cluster: XREAD: %s", rep->str);
		return;		/* the tick tries again */
	}
	if (rep->type == REDIS_REPLY_ARRAY) {
		for (size_t i = 0; i < rep->elements; i++) {
			const redisReply *st = rep->element[i];
			struct reg_channel *ch;
			struct edge_chan *e;

			if (st->type != REDIS_REPLY_ARRAY || st->elements != 2 ||
			    st->element[0]->type != REDIS_REPLY_STRING ||
			    st->element[1]->type != REDIS_REPLY_ARRAY ||
			    st->element[0]->len <= cl->k_stream_len)
				continue;
			ch = registry_find(&rl->reg, st->element[0]->str + cl->k_stream_len,
					   st->element[0]->len - cl->k_stream_len);
			e = ch ? ch->user : NULL;
			if (!e || e->state != EC_READING)
				continue;	/* nobody here wants it any more */
			for (size_t j = 0; j < st->element[1]->elements; j++) {
				struct streamrec rec;
				const char *why;

				if (streamrec_parse(st->element[1]->element[j], &rec, &why)) {
					bad_record(cl, ch->name, why);
					if (rec.seq > e->last)
						e->last = rec.seq;
					continue;
				}
				if (rec.seq <= e->last && !(rec.epoch[0] && strcmp(rec.epoch, rl->epoch)))
					continue;
				if (e->last && rec.seq > e->last + 1 && !(rec.epoch[0] && strcmp(rec.epoch, rl->epoch))) {
					cl->gaps++;
					gap_notice(rl, ch, e->last + 1, rec.seq - 1);
				}
				deliver(cl, ch, &rec, 1);
				e->last = rec.seq;
				cl->frames_read++;
			}
		}
	}
	edge_read(cl);
}

/* Issues the next XREAD BLOCK over every channel being read. */
static void
edge_read(struct cluster *cl)
{
	struct relay *r = cl->relay;
	struct reg_channel *ch;
	uint32_t it, n = 0, cap = 0;
	const char **argv;
	size_t *lens;
	char *ids, *keys, block[16];
	size_t idw = 24, kw = 160;

	if (!cl->rd.up || !cl->reader_ready || cl->xread_inflight || cl->stopping)
		return;
	for (ch = registry_first(&r->reg, &it); ch; ch = registry_next(&r->reg, ch, &it)) {
		const struct edge_chan *e = ch->user;

		cap += e && e->state == EC_READING && ch->n_members;
	}
	cl->set_changed = 0;
	if (!cap)
		return;
	argv = malloc(sizeof(*argv) * (2 * cap + 8));
	lens = malloc(sizeof(*lens) * (2 * cap + 8));
	ids = malloc(idw * cap);
	keys = malloc(kw * cap);
	if (!argv || !lens || !ids || !keys)
		goto out;
	for (ch = registry_first(&r->reg, &it); ch; ch = registry_next(&r->reg, ch, &it)) {
		struct edge_chan *e = ch->user;

		if (!e || e->state != EC_READING || !ch->n_members)
			continue;
		cluster_stream_key(cl, ch->name, ch->name_len, keys + kw * n, kw);
		snprintf(ids + idw * n, idw, "%llu-0", (unsigned long long)e->last);
		if (++n == cap)
			break;
	}
	snprintf(block, sizeof(block), "%d", XREAD_BLOCK_MS);
	argv[0] = "XREAD", argv[1] = "COUNT", argv[2] = XREAD_COUNT, argv[3] = "BLOCK";
	argv[4] = block, argv[5] = "STREAMS";
	for (uint32_t i = 0; i < n; i++) {
		argv[6 + i] = keys + kw * i;
		argv[6 + n + i] = ids + idw * i;
	}
	for (uint32_t i = 0; i < 6 + 2 * n; i++)
		lens[i] = strlen(argv[i]);
	if (!rconn_cmd(&cl->rd, on_xread, cl, 1, (int)(6 + 2 * n), argv, lens))
		cl->xread_inflight = 1;
out:
	free(argv);
	free(lens);
	free(ids);
	free(keys);
}

void
cluster_on_reader_id(redisAsyncContext *ac, void *r, void *priv)
{
	struct cluster *cl = priv;
	redisReply *rep = r;

	(void)ac;
	if (!cluster_reply_is(rep, REDIS_REPLY_INTEGER) || cl->stopping)
		return;
	cl->reader_id = rep->integer;
	cl->reader_ready = 1;
	edge_read(cl);
}

/* Tells browsers when the UW link, as this edge sees it, goes up or down,
 * like a standalone relay does for its own link. */
void
cluster_announce(struct cluster *cl)
{
	int up = cluster_ready(cl);

	if (up == cl->announced)
		return;
	cl->announced = up;
	session_broadcast_upstream(cl->relay, up, !cluster_redis_up(cl) ? "redis unavailable" :
		       cl->up_reason[0] ? cl->up_reason : "no relay holds the UW link");
	notify_status(cl->relay);
}

static void
on_upstate(redisAsyncContext *ac, void *r, void *priv)
{
	struct cluster *cl = priv;
	redisReply *rep = r;
	char was_node[sizeof(cl->up_node)];

	(void)ac;
	if (!rep || rep->type != REDIS_REPLY_ARRAY || cl->stopping)
		return;
	memcpy(was_node, cl->up_node, sizeof(was_node));
	snprintf(cl->up_state, sizeof(cl->up_state), "disconnected");
	cl->up_reason[0] = cl->up_node[0] = '\0';
	for (size_t i = 0; i + 1 < rep->elements; i += 2) {
		const redisReply *k = rep->element[i], *v = rep->element[i + 1];

		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		if (!strcmp(k->str, "state"))
			snprintf(cl->up_state, sizeof(cl->up_state), "%.*s", (int)v->len, v->str);
		else if (!strcmp(k->str, "reason"))
			snprintf(cl->up_reason, sizeof(cl->up_reason), "%.*s", (int)v->len, v->str);
		else if (!strcmp(k->str, "node"))
			snprintf(cl->up_node, sizeof(cl->up_node), "%.*s", (int)v->len, v->str);
	}
	if (!rep->elements)
		snprintf(cl->up_reason, sizeof(cl->up_reason), "no relay holds the UW link");
	/* the link moved to another ingest between two looks: frames UW sent
	 * meanwhile went nowhere, so say so even though it looks up both times */
	if (cl->announced == 1 && was_node[0] && cl->up_node[0] && strcmp(was_node, cl->up_node) &&
	    cluster_ready(cl)) {
		log_msg(LOG_INFO, "cluster: the UW link moved from %s to %s", was_node, cl->up_node);
		session_broadcast_upstream(cl->relay, 0, "the UW link moved to another ingest relay");
		session_broadcast_upstream(cl->relay, 1, NULL);
	}
	cluster_announce(cl);
}

void
cluster_edge_tick(struct cluster *cl)
{
	struct relay *r = cl->relay;
	uint64_t now = clock_mono_ms();
	struct reg_channel *ch;
	uint32_t it;

	if (cl->stopping)
		return;
	cluster_announce(cl);
	if (!cl->cmd.up)
		return;
	if (now - cl->interest_ms >= (uint64_t)(r->cfg.cluster_interest_ttl * 1000 / 3)) {
		send_interest(cl, NULL);
		cl->interest_ms = now;
	}
	if (cl->ticks % 4 == 0)
		rconn_cmdf(&cl->cmd, on_upstate, cl, "HGETALL %s", cl->k_up);
	for (ch = registry_first(&r->reg, &it); ch; ch = registry_next(&r->reg, ch, &it)) {
		struct edge_chan *e = ch->user;

		if (e && e->state == EC_NEED_BACKFILL && ch->n_members)
			backfill(cl, ch);
	}
	if (!cl->xread_inflight)
		edge_read(cl);
}

void
cluster_channel_changed(struct cluster *cl, struct reg_channel *ch)
{
	struct edge_chan *e = echan(ch);

	if (!e)
		return;
	if (ch->n_members) {
		if (e->state != EC_IDLE)
			return;
		e->state = EC_NEED_BACKFILL;
		if (cl->cmd.up) {
			send_interest(cl, ch);
			backfill(cl, ch);
		}
		return;
	}
	/* nobody here reads it now: stop, and let the wish expire */
	e->state = EC_IDLE;
	e->gen++;
	drop_pending(cl, e);
	history_clear(&ch->hist);
	cl->set_changed = 1;
	edge_kick_reader(cl);
}

int
cluster_defer_resume(struct cluster *cl, struct reg_channel *ch, struct session *s, uint64_t since,
		     const char *epoch)
{
	struct edge_chan *e = ch->user;

	if (cl->mode != CLUSTER_EDGE || !e || e->state == EC_READING)
		return 0;
	if (e->n_pend == e->cap_pend) {
		size_t cap = e->cap_pend ? e->cap_pend * 2 : 4;
		struct pending_resume *p;

		if (cap > MAX_PENDING_RESUMES || !(p = realloc(e->pend, cap * sizeof(*p))))
			return 0;	/* replay what is here now */
		e->pend = p;
		e->cap_pend = cap;
	}
	e->pend[e->n_pend].s = s;
	e->pend[e->n_pend].since = since;
	snprintf(e->pend[e->n_pend].epoch, sizeof(e->pend[0].epoch), "%s", epoch);
	e->n_pend++;
	cl->n_pending++;
	return 1;
}

void
cluster_session_gone(struct cluster *cl, struct session *s)
{
	struct relay *r = cl->relay;
	struct reg_channel *ch;
	uint32_t it;

	if (cl->mode != CLUSTER_EDGE || !cl->n_pending)
		return;
	for (ch = registry_first(&r->reg, &it); ch; ch = registry_next(&r->reg, ch, &it)) {
		struct edge_chan *e = ch->user;

		for (size_t i = 0; e && i < e->n_pend;) {
			if (e->pend[i].s == s) {
				e->pend[i] = e->pend[--e->n_pend];
				cl->n_pending--;
			} else
				i++;
		}
	}
}


void
cluster_edge_cmd_up(struct cluster *cl)
{
	struct registry *reg = &cl->relay->reg;
	struct reg_channel *ch;
	uint32_t it;

	for (ch = registry_first(reg, &it); ch; ch = registry_next(reg, ch, &it)) {
		struct edge_chan *e = ch->user;

		if (e && e->state == EC_BACKFILLING)
			e->state = EC_NEED_BACKFILL;
	}
}
