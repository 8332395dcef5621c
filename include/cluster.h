/* cluster.h: several relays sharing one UW link through Redis Streams.
 *
 *   ingest  holds the UW link (one at a time: a lock in Redis with a TTL,
 *           renewed from an lws timer) and appends every frame to a stream
 *           per channel; the channels it joins are those the edges want.
 *   edge    serves browsers like a standalone relay, reading the streams of
 *           the channels its browsers want (XREAD BLOCK on its own link).
 *
 * Keys (prefix P, cluster.key_prefix):
 *   P stream:<channel>  the frames (see streamrec.h), MAXLEN ~ history.size
 *   P seq               hash: channel -> last seq given out
 *   P epoch             the cluster's epoch (seqs are counted within it)
 *   P lock              the UW link lock: the holder's node id, PX lock_ttl
 *   P wanted            sorted set: channel -> expiry (ms), refreshed by edges
 *   P upstream          hash: the holder's view of the UW link, for edges
 * Everything runs on the relay's loop; nothing blocks it. */
#ifndef UWRELAY_CLUSTER_H
#define UWRELAY_CLUSTER_H

#include <stdint.h>
#include "log.h"
#include "rconn.h"
#include "registry.h"

struct relay;
struct session;

struct cluster {
	struct relay *relay;
	int mode;			/* enum cluster_mode */
	int stopping;
	char node[96];			/* this process: host:pid:random */
	char *password;			/* secret, or NULL */
	struct rconn cmd;		/* commands */
	struct rconn rd;		/* edge: the blocking reader */
	char k_lock[96], k_epoch[96], k_seq[96], k_wanted[96], k_up[96], k_stream[96];
	size_t k_stream_len;
	char sha_append[41], sha_renew[41], sha_release[41], sha_wanted[41], sha_interest[41];
	lws_sorted_usec_list_t sul_tick;
	uint64_t ticks;
	/* ingest */
	int leader;
	uint64_t lease_until_ms;	/* mono: leadership ends here unless renewed */
	uint64_t renew_sent_ms, lock_try_ms, published_ms;
	uint64_t wanted_grace_until_ms;	/* mono: no leaves before this (Redis just came back) */
	int lock_inflight, renew_inflight, wanted_inflight, release_inflight;
	struct reg_sub wanted_sub;	/* subscribed to what the edges want */
	char holder[96];		/* who holds the lock, as last seen */
	uint64_t leader_since_ms;	/* wall clock, 0 if not leader */
	uint64_t takeovers, appended, append_dropped, append_failed, pending_appends;
	/* edge */
	int xread_inflight, reader_ready, set_changed, unblock_inflight;
	long long reader_id;
	uint64_t frames_read, gaps, bad_records, interest_ms;
	int epoch_known;
	size_t n_pending;		/* deferred resumes, all channels */
	char candidate[17];		/* epoch offered if Redis has none */
	char up_state[24];		/* the UW link as the holder reports it */
	char up_reason[200];
	char up_node[96];
	int announced;			/* upstream state last told to browsers: -1, 0, 1 */
	struct log_ratelimit rl;
};

/* Sets up the role's Redis links and timers (no-op when standalone).
 * Returns 0, or -1 after logging why. */
int cluster_init(struct cluster *cl, struct relay *r);
/* SIGTERM: gives the UW link lock up if held; links close after. */
void cluster_shutdown(struct cluster *cl);
/* 1 while a shutdown message to Redis is still on its way. */
int cluster_busy(const struct cluster *cl);
void cluster_free(struct cluster *cl);

/* ingest: a frame to append (the holder only; dropped and counted else). */
void cluster_append(struct cluster *cl, struct reg_channel *ch, const char *payload, size_t len,
		    int64_t recv_ms);
/* edge: a channel got its first subscriber or lost its last. */
void cluster_channel_changed(struct cluster *cl, struct reg_channel *ch);
/* edge: s asked to resume ch from `since` before the edge has read the
 * channel's stream: the replay waits. Returns 1 if deferred. */
int cluster_defer_resume(struct cluster *cl, struct reg_channel *ch, struct session *s,
			 uint64_t since, const char *epoch);
/* A session is going away: forget its deferred resumes. */
void cluster_session_gone(struct cluster *cl, struct session *s);
/* "connected", "disconnected" ...: the UW link as this relay knows it. */
const char *cluster_upstream_word(const struct cluster *cl);
/* 1 while every Redis link this role needs is up. */
int cluster_redis_up(const struct cluster *cl);
/* 1 if the relay can serve (edge: Redis up and the holder on UW). */
int cluster_ready(const struct cluster *cl);
const char *cluster_role_name(int mode);

#endif
