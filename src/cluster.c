/* cluster.c: what both roles share (see cluster.h): the Redis links, the
 * scripts, the epoch, the timer and the lifecycle. The roles themselves are
 * cluster_ingest.c (the UW link's holder, appending to the streams) and
 * cluster_edge.c (reading the streams for browsers). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "clock.h"
#include "cluster.h"
#include "cluster_int.h"
#include "relay_state.h"
#include "streamrec.h"
#include "upstream.h"

const char *
cluster_role_name(int mode)
{
	return mode >= 0 && mode < 3 ? config_role_names[mode] : "?";
}

/* ---- small helpers ---- */

int
cluster_reply_is(const redisReply *rep, int type)
{
	return rep && rep->type == type;
}

void
cluster_stream_key(const struct cluster *cl, const char *name, size_t len, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s%.*s", cl->k_stream, (int)len, name);
}

int
cluster_script_missing(const redisReply *rep)
{
	return cluster_reply_is(rep, REDIS_REPLY_ERROR) && !strncmp(rep->str, "NOSCRIPT", 8);
}


void
cluster_load_scripts(struct cluster *cl)
{
	const char *scripts[] = { STREAMREC_LUA_APPEND, STREAMREC_LUA_RENEW, STREAMREC_LUA_RELEASE,
				  STREAMREC_LUA_WANTED, STREAMREC_LUA_INTEREST };

	for (size_t i = 0; i < sizeof(scripts) / sizeof(*scripts); i++)
		rconn_cmdf(&cl->cmd, cluster_on_ignore, cl, "SCRIPT LOAD %s", scripts[i]);
}

void
cluster_on_ignore(redisAsyncContext *ac, void *r, void *priv)
{
	struct cluster *cl = priv;
	redisReply *rep = r;

	(void)ac;
	if (cluster_reply_is(rep, REDIS_REPLY_ERROR))
		log_limited(&cl->rl, clock_mono_ms(), LOG_WARN, "cluster: redis answered: %s", rep->str);
}

/* ---- the epoch: one per cluster, kept in Redis ---- */


static void
on_epoch(redisAsyncContext *ac, void *r, void *priv)
{
	struct cluster *cl = priv;
	struct relay *rl = cl->relay;
	redisReply *rep = r;

	(void)ac;
	if (!cluster_reply_is(rep, REDIS_REPLY_STRING) || rep->len != 16 ||
	    strspn(rep->str, "0123456789abcdef") != 16)
		return;
	if (!strcmp(rl->epoch, rep->str)) {
		cl->epoch_known = 1;
		return;
	}
	if (cl->epoch_known && cl->mode == CLUSTER_EDGE)
		cluster_epoch_changed(cl, rep->str);	/* Redis lost its data: seqs start again */
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

void
cluster_ask_epoch(struct cluster *cl)
{
	/* The first relay to ask makes it, later ones adopt it. The offer is
	 * new each time: were it the epoch we knew, a Redis that lost its data
	 * would get the old epoch back with seqs starting again under it. */
	fresh_epoch(cl);
	rconn_cmdf(&cl->cmd, cluster_on_ignore, cl, "SET %s %s NX", cl->k_epoch, cl->candidate);
	rconn_cmdf(&cl->cmd, on_epoch, cl, "GET %s", cl->k_epoch);
}


/* ---- links, timer, lifecycle ---- */

static void
on_link(struct rconn *c, int up)
{
	struct cluster *cl = c->user;
	struct relay *r = cl->relay;

	if (cl->stopping)
		return;
	if (c == &cl->cmd) {
		if (up) {
			cluster_load_scripts(cl);
			cluster_ask_epoch(cl);
			cl->wanted_grace_until_ms = clock_mono_ms() +
				(uint64_t)(r->cfg.cluster_interest_ttl * 1000 / 3) + 1000;
			cl->interest_ms = 0;
			cl->published_ms = 0;
			cl->lock_try_ms = 0;
		}
		cl->lock_inflight = cl->renew_inflight = cl->wanted_inflight = 0;
		cl->unblock_inflight = 0;
		if (cl->mode == CLUSTER_EDGE && up)
			cluster_edge_cmd_up(cl);
	} else {
		cl->xread_inflight = 0;
		cl->reader_ready = 0;
		cl->reader_id = 0;
		if (up)
			rconn_cmdf(&cl->rd, cluster_on_reader_id, cl, "CLIENT ID");
	}
	if (cl->mode == CLUSTER_EDGE)
		cluster_announce(cl);
}

static void
tick_cb(lws_sorted_usec_list_t *sul)
{
	struct cluster *cl = lws_container_of(sul, struct cluster, sul_tick);

	cl->ticks++;
	if (cl->mode == CLUSTER_INGEST)
		cluster_ingest_tick(cl);
	else
		cluster_edge_tick(cl);
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
		r->reg.on_evict = cluster_edge_evict;
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
