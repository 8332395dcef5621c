/* cluster.c: ingest and edge roles over Redis Streams (see cluster.h).
 *
 * Ingest: a timer (every TICK_MS) tries the lock while standing by, renews
 * it while holding it, reads the channels the edges want and publishes the
 * UW link's state. Holding the lock starts the upstream client; losing it
 * (renewal refused, or not renewed before the lease runs out, which is
 * before Redis' expiry) stops it, so two relays never hold UW at once while
 * their clocks tick at the same rate. Every frame is appended by a script
 * that checks the lock first (fencing).
 *
 * Edge: a channel's first subscriber starts a backfill (XREVRANGE of the
 * stream into the channel's history, so resume works at once, even for a
 * browser that moved here from another edge), then the reader's XREAD
 * BLOCK includes it from the last id seen. A change of the set interrupts
 * the blocked read (CLIENT UNBLOCK from the command link). When Redis comes
 * back, reading goes on from the last id of each channel. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "chname.h"
#include "clock.h"
#include "cluster.h"
#include "envelope.h"
#include "history.h"
#include "notify.h"
#include "relay.h"
#include "session.h"
#include "streamrec.h"
#include "upstream.h"

#define TICK_MS 250
#define XREAD_BLOCK_MS 2000
#define XREAD_COUNT "1000"
#define MAX_WANTED 4096			/* channels an ingest takes from the edges */
#define MAX_PENDING_APPENDS 50000	/* frames sent to Redis, not yet answered */
#define MAX_UNSENT_BYTES (8u << 20)	/* commands hiredis holds, not yet written */
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

static const char *const role_names[] = { "standalone", "ingest", "edge" };

const char *
cluster_role_name(int mode)
{
	return mode >= 0 && mode < 3 ? role_names[mode] : "?";
}

static void edge_kick_reader(struct cluster *cl);
static void edge_read(struct cluster *cl);

/* ---- small helpers ---- */

static int
reply_is(const redisReply *rep, int type)
{
	return rep && rep->type == type;
}

static void
stream_key(const struct cluster *cl, const char *name, size_t len, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s%.*s", cl->k_stream, (int)len, name);
}

static int
script_missing(const redisReply *rep)
{
	return reply_is(rep, REDIS_REPLY_ERROR) && !strncmp(rep->str, "NOSCRIPT", 8);
}

static void on_ignore(redisAsyncContext *ac, void *r, void *priv);

static void
load_scripts(struct cluster *cl)
{
	const char *scripts[] = { STREAMREC_LUA_APPEND, STREAMREC_LUA_RENEW, STREAMREC_LUA_RELEASE,
				  STREAMREC_LUA_WANTED, STREAMREC_LUA_INTEREST };

	for (size_t i = 0; i < sizeof(scripts) / sizeof(*scripts); i++)
		rconn_cmdf(&cl->cmd, on_ignore, cl, "SCRIPT LOAD %s", scripts[i]);
}

static void
on_ignore(redisAsyncContext *ac, void *r, void *priv)
{
	struct cluster *cl = priv;
	redisReply *rep = r;

	(void)ac;
	if (reply_is(rep, REDIS_REPLY_ERROR))
		log_limited(&cl->rl, clock_mono_ms(), LOG_WARN, "cluster: redis answered: %s", rep->str);
}

/* ---- the epoch: one per cluster, kept in Redis ---- */

static void epoch_changed(struct cluster *cl, const char *epoch);

static void
on_epoch(redisAsyncContext *ac, void *r, void *priv)
{
	struct cluster *cl = priv;
	struct relay *rl = cl->relay;
	redisReply *rep = r;

	(void)ac;
	if (!reply_is(rep, REDIS_REPLY_STRING) || rep->len != 16 ||
	    strspn(rep->str, "0123456789abcdef") != 16)
		return;
	if (!strcmp(rl->epoch, rep->str)) {
		cl->epoch_known = 1;
		return;
	}
	if (cl->epoch_known && cl->mode == CLUSTER_EDGE)
		epoch_changed(cl, rep->str);	/* Redis lost its data: seqs start again */
	else
		log_msg(LOG_INFO, "cluster: epoch %s (from redis)", rep->str);
	memcpy(rl->epoch, rep->str, 17);
	cl->epoch_known = 1;
}

/* A new random epoch, offered to Redis in case it has none. */
static void
fresh_epoch(struct cluster *cl)
{
	uint8_t b[8];

	lws_get_random(cl->relay->ctx, b, sizeof(b));
	for (int i = 0; i < 8; i++)
		snprintf(cl->candidate + 2 * i, 3, "%02x", b[i]);
}

static void
ask_epoch(struct cluster *cl)
{
	/* The first relay to ask makes it, later ones adopt it. The offer is
	 * new each time: were it the epoch we knew, a Redis that lost its data
	 * would get the old epoch back with seqs starting again under it. */
	fresh_epoch(cl);
	rconn_cmdf(&cl->cmd, on_ignore, cl, "SET %s %s NX", cl->k_epoch, cl->candidate);
	rconn_cmdf(&cl->cmd, on_epoch, cl, "GET %s", cl->k_epoch);
}

/* ================= ingest ================= */

static void
wanted_last_left(struct reg_channel *ch, void *arg)
{
	relay_channel_changed(arg, ch);
}

static void
publish_state(struct cluster *cl)
{
	struct relay *r = cl->relay;
	char at[24], ttl[24];

	/* it lives as long as the lock: when the holder dies, edges see the
	 * link go down once the lock could have been taken over */
	snprintf(at, sizeof(at), "%llu", (unsigned long long)clock_now_ms());
	snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)(cl->relay->cfg.cluster_lock_ttl * 1000));
	rconn_cmdf(&cl->cmd, on_ignore, cl, "HSET %s state %s node %s reason %s at %s", cl->k_up,
		   upstream_status_word(&r->up), cl->node,
		   r->up.state == UP_CONNECTED ? "" : r->up.last_error, at);
	rconn_cmdf(&cl->cmd, on_ignore, cl, "PEXPIRE %s %s", cl->k_up, ttl);
	cl->published_ms = clock_mono_ms();
}

static void
lose_leadership(struct cluster *cl, const char *why)
{
	struct relay *r = cl->relay;

	if (!cl->leader)
		return;
	cl->leader = 0;
	cl->leader_since_ms = 0;
	log_msg(LOG_WARN, "cluster: this relay no longer holds the UW link (%s): closing it", why);
	upstream_stop(&r->up);
	registry_unsubscribe_all(&r->reg, &cl->wanted_sub, wanted_last_left, r);
	notify_status(r);
}

static void
gain_leadership(struct cluster *cl, uint64_t sent_ms)
{
	struct relay *r = cl->relay;
	uint64_t ttl = (uint64_t)(r->cfg.cluster_lock_ttl * 1000);

	if (sent_ms + ttl - ttl / 5 <= clock_mono_ms() + TICK_MS)
		return;		/* an answer too late to hold on to: try again */
	cl->leader = 1;
	cl->lease_until_ms = sent_ms + ttl - ttl / 5;
	cl->renew_sent_ms = sent_ms;
	cl->leader_since_ms = clock_now_ms();
	cl->takeovers++;
	snprintf(cl->holder, sizeof(cl->holder), "%s", cl->node);
	log_msg(LOG_INFO, "cluster: this relay now holds the UW link (lock %s, ttl %.1f s)",
		cl->k_lock, r->cfg.cluster_lock_ttl);
	if (!r->up.conn.wsi)
		upstream_start(&r->up);
	notify_status(r);
}

static void on_renew(redisAsyncContext *ac, void *r, void *priv);

static void
send_renew(struct cluster *cl)
{
	char ttls[24];

	snprintf(ttls, sizeof(ttls), "%llu", (unsigned long long)(cl->relay->cfg.cluster_lock_ttl * 1000));
	if (!rconn_cmdf(&cl->cmd, on_renew, cl, "EVALSHA %s 1 %s %s %s", cl->sha_renew, cl->k_lock,
			cl->node, ttls)) {
		cl->renew_inflight = 1;
		cl->renew_sent_ms = clock_mono_ms();
	}
}

static void
on_lock(redisAsyncContext *ac, void *r, void *priv)
{
	struct cluster *cl = priv;
	redisReply *rep = r;

	(void)ac;
	cl->lock_inflight = 0;
	if (!rep || cl->stopping)
		return;
	if (rep->type == REDIS_REPLY_NIL)
		gain_leadership(cl, cl->lock_try_ms);	/* SET NX GET: nil = it was free, now ours */
	else if (rep->type == REDIS_REPLY_STRING) {
		snprintf(cl->holder, sizeof(cl->holder), "%.*s", (int)rep->len, rep->str);
		if (!strcmp(cl->holder, cl->node) && !cl->renew_inflight)
			send_renew(cl);		/* ours from before a cut: renew, then hold */
	}
	else if (rep->type == REDIS_REPLY_ERROR)
		log_limited(&cl->rl, clock_mono_ms(), LOG_WARN, "cluster: lock: %s", rep->str);
}

static void
on_renew(redisAsyncContext *ac, void *r, void *priv)
{
	struct cluster *cl = priv;
	redisReply *rep = r;
	uint64_t ttl = (uint64_t)(cl->relay->cfg.cluster_lock_ttl * 1000);

	(void)ac;
	cl->renew_inflight = 0;
	if (!rep || cl->stopping)
		return;
	if (!cl->leader) {
		/* reclaiming a lock still ours (our Redis link was cut briefly):
		 * held again only from this renewal on, whatever was left of it */
		if (reply_is(rep, REDIS_REPLY_INTEGER) && rep->integer == 1)
			gain_leadership(cl, cl->renew_sent_ms);
		return;
	}
	if (reply_is(rep, REDIS_REPLY_INTEGER) && rep->integer == 1)
		cl->lease_until_ms = cl->renew_sent_ms + ttl - ttl / 5;
	else if (reply_is(rep, REDIS_REPLY_INTEGER))
		lose_leadership(cl, "the lock is held by another relay or expired");
	else if (script_missing(rep))
		load_scripts(cl);
	else if (reply_is(rep, REDIS_REPLY_ERROR))
		log_limited(&cl->rl, clock_mono_ms(), LOG_WARN, "cluster: renew: %s", rep->str);
}

static int
in_reply(const redisReply *rep, const char *name, size_t len)
{
	for (size_t i = 0; i < rep->elements; i++)
		if (rep->element[i]->len == len && !memcmp(rep->element[i]->str, name, len))
			return 1;
	return 0;
}

static void
on_wanted(redisAsyncContext *ac, void *r, void *priv)
{
	struct cluster *cl = priv;
	struct relay *rl = cl->relay;
	redisReply *rep = r;
	size_t taken = 0;

	(void)ac;
	cl->wanted_inflight = 0;
	if (!rep || cl->stopping || !cl->leader)
		return;
	if (script_missing(rep)) {
		load_scripts(cl);
		return;
	}
	if (rep->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < rep->elements; i++) {
		const redisReply *e = rep->element[i];
		struct reg_channel *ch;

		if (e->type != REDIS_REPLY_STRING || e->len > CHNAME_MAX || !chname_valid(e->str, e->len) ||
		    (!chname_allowed((const char *const *)rl->cfg.allowed_channels, rl->cfg.n_allowed,
				     e->str, e->len) &&
		     !config_source_by_channel(&rl->cfg, e->str, e->len)))
			continue;
		if (++taken > MAX_WANTED)
			break;
		if (registry_subscribe(&rl->reg, &cl->wanted_sub, e->str, e->len, &ch) == REG_FIRST)
			relay_channel_changed(rl, ch);
	}
	/* Redis just came back, maybe empty: edges re-register within a third
	 * of interest_ttl; leaving meanwhile would only make UW churn */
	if (clock_mono_ms() < cl->wanted_grace_until_ms)
		return;
	for (uint16_t i = cl->wanted_sub.n; i-- > 0;) {
		struct reg_channel *ch = cl->wanted_sub.m[i]->ch;

		if (!in_reply(rep, ch->name, ch->name_len) &&
		    registry_unsubscribe(&rl->reg, &cl->wanted_sub, ch->name, ch->name_len, &ch) == REG_LAST)
			relay_channel_changed(rl, ch);
	}
}

static void
ingest_tick(struct cluster *cl)
{
	struct relay *r = cl->relay;
	uint64_t now = clock_mono_ms(), ttl = (uint64_t)(r->cfg.cluster_lock_ttl * 1000);
	uint64_t try_every = ttl / 4 < 1000 ? ttl / 4 : 1000;

	if (cl->leader && now >= cl->lease_until_ms)
		lose_leadership(cl, "the lock could not be renewed in time");
	if (!cl->cmd.up || !r->token || cl->stopping)
		return;
	if (cl->leader) {
		if (!cl->renew_inflight && now - cl->renew_sent_ms >= ttl / 3)
			send_renew(cl);
		if (!cl->wanted_inflight &&
		    !rconn_cmdf(&cl->cmd, on_wanted, cl, "EVALSHA %s 1 %s", cl->sha_wanted, cl->k_wanted))
			cl->wanted_inflight = 1;
		if (now - cl->published_ms >= (ttl / 3 < 1000 ? ttl / 3 : 1000))
			publish_state(cl);
		/* after a quick loss and regain, the old socket may still be closing */
		if ((r->up.state == UP_STOPPED || r->up.state == UP_DISABLED) && !r->up.conn.wsi)
			upstream_start(&r->up);
	} else if (!cl->lock_inflight && now - cl->lock_try_ms >= try_every) {
		char ttls[24];

		snprintf(ttls, sizeof(ttls), "%llu", (unsigned long long)ttl);
		if (!rconn_cmdf(&cl->cmd, on_lock, cl, "SET %s %s NX PX %s GET", cl->k_lock, cl->node, ttls)) {
			cl->lock_inflight = 1;
			cl->lock_try_ms = now;
		}
	}
}

static void
on_appended(redisAsyncContext *ac, void *r, void *priv)
{
	struct cluster *cl = priv;
	redisReply *rep = r;

	(void)ac;
	if (cl->pending_appends)
		cl->pending_appends--;
	if (reply_is(rep, REDIS_REPLY_INTEGER)) {
		cl->appended++;
		return;
	}
	cl->append_failed++;
	if (!rep || cl->stopping)
		return;
	if (reply_is(rep, REDIS_REPLY_ERROR)) {
		if (!strncmp(rep->str, "NOTLEADER", 9))
			lose_leadership(cl, "Redis refused a frame: the lock is someone else's");
		else if (script_missing(rep))
			load_scripts(cl);
		else
			log_limited(&cl->rl, clock_mono_ms(), LOG_WARN, "cluster: append refused: %s",
				    rep->str);
	}
}

void
cluster_append(struct cluster *cl, struct reg_channel *ch, const char *payload, size_t len,
	       int64_t recv_ms)
{
	struct relay *r = cl->relay;
	char key[160], maxlen[24], t[24];
	const char *argv[13];
	size_t lens[13];
	int n = 0;

	if (!cl->leader || !cl->cmd.up || cl->pending_appends >= MAX_PENDING_APPENDS ||
	    rconn_unsent(&cl->cmd) > MAX_UNSENT_BYTES) {
		cl->append_dropped++;
		log_limited(&cl->rl, clock_mono_ms(), LOG_WARN,
			    "cluster: dropped a frame for '%s': %s", ch->name,
			    !cl->leader ? "this relay does not hold the UW link" :
			    !cl->cmd.up ? "redis is unavailable" : "redis is not keeping up");
		return;
	}
	stream_key(cl, ch->name, ch->name_len, key, sizeof(key));
	snprintf(maxlen, sizeof(maxlen), "%lld",
		 (long long)(r->cfg.history_size > 0 ? r->cfg.history_size : 1));
	snprintf(t, sizeof(t), "%lld", (long long)recv_ms);
#define ARG(p, l) (argv[n] = (p), lens[n++] = (l))
	ARG("EVALSHA", 7);
	ARG(cl->sha_append, 40);
	ARG("4", 1);
	ARG(key, strlen(key));
	ARG(cl->k_seq, strlen(cl->k_seq));
	ARG(cl->k_epoch, strlen(cl->k_epoch));
	ARG(cl->k_lock, strlen(cl->k_lock));
	ARG(cl->node, strlen(cl->node));
	ARG(ch->name, ch->name_len);
	ARG(maxlen, strlen(maxlen));
	ARG(payload, len);
	ARG(t, strlen(t));
	ARG(cl->candidate, 16);		/* used only if Redis has no epoch */
#undef ARG
	if (rconn_cmd(&cl->cmd, on_appended, cl, 0, n, argv, lens)) {
		cl->append_dropped++;
		return;
	}
	cl->pending_appends++;
}

/* ================= edge ================= */

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

static void
edge_evict(struct reg_channel *ch, void *arg)
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
	cJSON *o = cJSON_CreateObject();
	char *txt;

	if (!o)
		return;
	cJSON_AddStringToObject(o, "type", "gap");
	cJSON_AddStringToObject(o, "channel", ch->name);
	cJSON_AddStringToObject(o, "reason", "trimmed");
	cJSON_AddNumberToObject(o, "from", (double)from);
	cJSON_AddNumberToObject(o, "to", (double)to);
	cJSON_AddStringToObject(o, "message",
				"these frames left the shared stream before this relay read them");
	txt = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (txt) {
		session_channel_notice(r, ch, txt);
		free(txt);
	}
}

/* Redis lost its data (or someone reset the cluster): seqs start again. */
static void
epoch_changed(struct cluster *cl, const char *epoch)
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
		epoch_changed(cl, rec->epoch);
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
	if (!reply_is(rep, REDIS_REPLY_ARRAY)) {
		if (reply_is(rep, REDIS_REPLY_ERROR))
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
	stream_key(cl, ch->name, ch->name_len, key, sizeof(key));
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
		rconn_cmd(&cl->cmd, on_ignore, cl, 0, (int)n, argv, lens);
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
		stream_key(cl, ch->name, ch->name_len, keys + kw * n, kw);
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

static void
on_reader_id(redisAsyncContext *ac, void *r, void *priv)
{
	struct cluster *cl = priv;
	redisReply *rep = r;

	(void)ac;
	if (!reply_is(rep, REDIS_REPLY_INTEGER) || cl->stopping)
		return;
	cl->reader_id = rep->integer;
	cl->reader_ready = 1;
	edge_read(cl);
}

/* Tells browsers when the UW link, as this edge sees it, goes up or down,
 * like a standalone relay does for its own link. */
static void
announce(struct cluster *cl)
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
	announce(cl);
}

static void
edge_tick(struct cluster *cl)
{
	struct relay *r = cl->relay;
	uint64_t now = clock_mono_ms();
	struct reg_channel *ch;
	uint32_t it;

	if (cl->stopping)
		return;
	announce(cl);
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

/* ================= links, timer, lifecycle ================= */

static void
on_link(struct rconn *c, int up)
{
	struct cluster *cl = c->user;
	struct relay *r = cl->relay;
	struct reg_channel *ch;
	uint32_t it;

	if (cl->stopping)
		return;
	if (c == &cl->cmd) {
		if (up) {
			load_scripts(cl);
			ask_epoch(cl);
			cl->wanted_grace_until_ms = clock_mono_ms() +
				(uint64_t)(r->cfg.cluster_interest_ttl * 1000 / 3) + 1000;
			cl->interest_ms = 0;
			cl->published_ms = 0;
			cl->lock_try_ms = 0;
		}
		cl->lock_inflight = cl->renew_inflight = cl->wanted_inflight = 0;
		cl->unblock_inflight = 0;
		if (cl->mode == CLUSTER_EDGE && up)
			for (ch = registry_first(&r->reg, &it); ch; ch = registry_next(&r->reg, ch, &it)) {
				struct edge_chan *e = ch->user;

				if (e && e->state == EC_BACKFILLING)
					e->state = EC_NEED_BACKFILL;
			}
	} else {
		cl->xread_inflight = 0;
		cl->reader_ready = 0;
		cl->reader_id = 0;
		if (up)
			rconn_cmdf(&cl->rd, on_reader_id, cl, "CLIENT ID");
	}
	if (cl->mode == CLUSTER_EDGE)
		announce(cl);
}

static void
tick_cb(lws_sorted_usec_list_t *sul)
{
	struct cluster *cl = lws_container_of(sul, struct cluster, sul_tick);

	cl->ticks++;
	if (cl->mode == CLUSTER_INGEST)
		ingest_tick(cl);
	else
		edge_tick(cl);
	if (!cl->stopping)
		lws_sul_schedule(cl->relay->ctx, 0, &cl->sul_tick, tick_cb, TICK_MS * 1000);
}

static char *
read_password(const char *path, char *why, size_t whylen)
{
	FILE *f = fopen(path, "re");
	char buf[512], *pw;
	size_t n;

	if (!f) {
		snprintf(why, whylen, "cannot read cluster.password_file %s", path);
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	pw = n ? strdup(buf) : NULL;
	explicit_bzero(buf, sizeof(buf));
	if (!n)
		snprintf(why, whylen, "cluster.password_file %s is empty", path);
	return pw;
}

static void
link_init(struct cluster *cl, struct rconn *c, const char *name, uint64_t grace_ms)
{
	struct relay *r = cl->relay;

	memset(c, 0, sizeof(*c));
	c->ctx = r->ctx;
	c->vh = r->vh_client;
	c->name = name;
	config_parse_redis(r->cfg.cluster_redis, &c->addr);
	c->password = cl->password;
	c->timeout_ms = (uint64_t)(r->cfg.cluster_redis_timeout * 1000);
	c->grace_ms = grace_ms;
	c->on_state = on_link;
	c->user = cl;
}

int
cluster_init(struct cluster *cl, struct relay *r)
{
	const struct config *c = &r->cfg;
	char host[64] = "", why[256];
	uint32_t rnd = 0;

	memset(cl, 0, sizeof(*cl));
	cl->relay = r;
	cl->mode = c->cluster_mode;
	cl->announced = -1;
	cl->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 5);
	snprintf(cl->up_state, sizeof(cl->up_state), "disconnected");
	if (cl->mode == CLUSTER_STANDALONE)
		return 0;
	if (c->cluster_password_file[0]) {
		cl->password = read_password(c->cluster_password_file, why, sizeof(why));
		if (!cl->password) {
			log_msg(LOG_ERR, "cluster: %s", why);
			return -1;
		}
		log_add_secret(cl->password);
	}
	gethostname(host, sizeof(host) - 1);
	lws_get_random(r->ctx, &rnd, sizeof(rnd));
	snprintf(cl->node, sizeof(cl->node), "%s:%d:%08x", host, (int)getpid(), rnd);
#define KEY(f, s) snprintf(cl->f, sizeof(cl->f), "%s%s", c->cluster_prefix, s)
	KEY(k_lock, "lock");
	KEY(k_epoch, "epoch");
	KEY(k_seq, "seq");
	KEY(k_wanted, "wanted");
	KEY(k_up, "upstream");
	KEY(k_stream, "stream:");
#undef KEY
	cl->k_stream_len = strlen(cl->k_stream);
	streamrec_sha1(STREAMREC_LUA_APPEND, cl->sha_append);
	streamrec_sha1(STREAMREC_LUA_RENEW, cl->sha_renew);
	streamrec_sha1(STREAMREC_LUA_RELEASE, cl->sha_release);
	streamrec_sha1(STREAMREC_LUA_WANTED, cl->sha_wanted);
	streamrec_sha1(STREAMREC_LUA_INTEREST, cl->sha_interest);
	link_init(cl, &cl->cmd, "commands", 0);
	rconn_start(&cl->cmd);
	if (cl->mode == CLUSTER_EDGE) {
		r->reg.on_evict = edge_evict;
		r->reg.evict_arg = cl;
		link_init(cl, &cl->rd, "reader", XREAD_BLOCK_MS);
		rconn_start(&cl->rd);
	}
	log_msg(LOG_INFO, "cluster: role %s, node %s, redis %s, keys %s*", cluster_role_name(cl->mode),
		cl->node, c->cluster_redis, c->cluster_prefix);
	lws_sul_schedule(r->ctx, 0, &cl->sul_tick, tick_cb, TICK_MS * 1000);
	return 0;
}

static void
on_released(redisAsyncContext *ac, void *r, void *priv)
{
	struct cluster *cl = priv;

	(void)ac;
	(void)r;
	cl->release_inflight = 0;
}

void
cluster_shutdown(struct cluster *cl)
{
	if (cl->mode == CLUSTER_STANDALONE || cl->stopping)
		return;
	if (cl->leader && !rconn_cmdf(&cl->cmd, on_released, cl, "EVALSHA %s 1 %s %s", cl->sha_release,
				      cl->k_lock, cl->node)) {
		cl->release_inflight = 1;
		log_msg(LOG_INFO, "cluster: giving the UW link lock up");
	}
	cl->leader = 0;
	cl->stopping = 1;
	lws_sul_cancel(&cl->sul_tick);
}

int
cluster_busy(const struct cluster *cl)
{
	return cl->release_inflight && cl->cmd.up;
}

void
cluster_free(struct cluster *cl)
{
	if (cl->mode == CLUSTER_STANDALONE || !cl->relay)
		return;
	cl->stopping = 1;
	lws_sul_cancel(&cl->sul_tick);
	rconn_stop(&cl->cmd);
	rconn_stop(&cl->rd);
	/* wanted_sub's array goes with the registry */
	if (cl->password) {
		memset(cl->password, 0, strlen(cl->password));
		free(cl->password);
		cl->password = NULL;
	}
}

const char *
cluster_upstream_word(const struct cluster *cl)
{
	if (cl->mode != CLUSTER_EDGE)
		return upstream_status_word(&cl->relay->up);
	return cluster_ready(cl) ? "connected" : "disconnected";
}

int
cluster_redis_up(const struct cluster *cl)
{
	return cl->cmd.up && (cl->mode != CLUSTER_EDGE || cl->rd.up);
}

int
cluster_ready(const struct cluster *cl)
{
	if (cl->mode == CLUSTER_EDGE)
		return cluster_redis_up(cl) && !strcmp(cl->up_state, "connected");
	if (cl->mode == CLUSTER_INGEST)
		return cl->cmd.up && (!cl->leader || cl->relay->up.state == UP_CONNECTED);
	return cl->relay->up.state == UP_CONNECTED;
}
