/* cluster_ingest.c: the ingest role (see cluster.h).
 *
 * A timer (every TICK_MS) tries the lock while standing by, renews it
 * while holding it, reads the channels the edges want and publishes the UW
 * link's state. Holding the lock starts the upstream client; losing it
 * (renewal refused, or not renewed before the lease runs out, which is
 * before Redis' expiry) stops it, so two relays never hold UW at once while
 * their clocks tick at the same rate. Every frame is appended by a script
 * that checks the lock first (fencing). */
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "cluster_int.h"
#include "notify.h"
#include "relay_state.h"
#include "tape.h"
#include "upstream.h"

#define MAX_WANTED 4096			/* channels an ingest takes from the edges */
#define MAX_PENDING_APPENDS 50000	/* frames sent to Redis, not yet answered */
#define MAX_UNSENT_BYTES (8u << 20)	/* commands hiredis holds, not yet written */

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
	rconn_cmdf(&cl->cmd, cluster_on_ignore, cl, "HSET %s state %s node %s reason %s at %s", cl->k_up,
		   upstream_status_word(&r->up), cl->node,
		   r->up.state == UP_CONNECTED ? "" : r->up.last_error, at);
	rconn_cmdf(&cl->cmd, cluster_on_ignore, cl, "PEXPIRE %s %s", cl->k_up, ttl);
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
		if (cluster_reply_is(rep, REDIS_REPLY_INTEGER) && rep->integer == 1)
			gain_leadership(cl, cl->renew_sent_ms);
		return;
	}
	if (cluster_reply_is(rep, REDIS_REPLY_INTEGER) && rep->integer == 1)
		cl->lease_until_ms = cl->renew_sent_ms + ttl - ttl / 5;
	else if (cluster_reply_is(rep, REDIS_REPLY_INTEGER))
		lose_leadership(cl, "the lock is held by another relay or expired");
	else if (cluster_script_missing(rep))
		cluster_load_scripts(cl);
	else if (cluster_reply_is(rep, REDIS_REPLY_ERROR))
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
	if (cluster_script_missing(rep)) {
		cluster_load_scripts(cl);
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

void
cluster_ingest_tick(struct cluster *cl)
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
	if (cluster_reply_is(rep, REDIS_REPLY_INTEGER)) {
		cl->appended++;
		return;
	}
	cl->append_failed++;
	if (!rep || cl->stopping)
		return;
	if (cluster_reply_is(rep, REDIS_REPLY_ERROR)) {
		if (!strncmp(rep->str, "NOTLEADER", 9))
			lose_leadership(cl, "Redis refused a frame: the lock is someone else's");
		else if (cluster_script_missing(rep))
			cluster_load_scripts(cl);
		else
			log_limited(&cl->rl, clock_mono_ms(), LOG_WARN, "cluster: append refused: %s",
				    rep->str);
	}
}

/* A frame of a taped channel: recorded by the ingest once Redis has given
 * it its seq (edges record nothing), so no frame is recorded twice. */
struct taped_append {
	struct cluster *cl;
	size_t slot;
	int64_t ts;
	size_t len;
	char payload[];
};

static void
on_appended_taped(redisAsyncContext *ac, void *r, void *priv)
{
	struct taped_append *ta = priv;
	redisReply *rep = r;

	if (cluster_reply_is(rep, REDIS_REPLY_INTEGER) && ta->cl->relay->tape && !ta->cl->stopping)
		tape_record(ta->cl->relay->tape, ta->slot, ta->cl->relay->epoch, (uint64_t)rep->integer,
			    ta->ts, ta->payload, ta->len);
	on_appended(ac, r, ta->cl);
	free(ta);
}

void
cluster_append(struct cluster *cl, struct reg_channel *ch, const char *payload, size_t len,
	       int64_t recv_ms)
{
	struct taped_append *ta = NULL;
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
	cluster_stream_key(cl, ch->name, ch->name_len, key, sizeof(key));
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
	if (ch->tape_slot && r->tape && (ta = malloc(sizeof(*ta) + len))) {
		*ta = (struct taped_append){ cl, ch->tape_slot - 1U, recv_ms, len };
		memcpy(ta->payload, payload, len);
	}
	if (rconn_cmd(&cl->cmd, ta ? on_appended_taped : on_appended, ta ? (void *)ta : cl, 0, n, argv,
		      lens)) {
		free(ta);
		cl->append_dropped++;
		return;
	}
	cl->pending_appends++;
}

