/* cluster_int.h: what cluster.c, cluster_ingest.c and cluster_edge.c share
 * and nobody else sees. */
#ifndef UWRELAY_CLUSTER_INT_H
#define UWRELAY_CLUSTER_INT_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include "cluster.h"

#define TICK_MS 250		/* the role's timer: lock, renewals, interest, reads */
#define XREAD_BLOCK_MS 2000	/* an edge's blocking read, and its link's grace */

/* 1 if rep is a reply of that type (NULL is none). */
int cluster_reply_is(const redisReply *rep, int type);
/* Writes the stream key of channel name[0..len) into out. */
void cluster_stream_key(const struct cluster *cl, const char *name, size_t len, char *out,
			size_t outlen);
/* 1 if Redis answered NOSCRIPT (the scripts must be loaded again). */
int cluster_script_missing(const redisReply *rep);
/* Loads the Lua scripts (after every reconnect of the command link). */
void cluster_load_scripts(struct cluster *cl);
/* A reply callback that only logs an error answer (rate-limited). */
void cluster_on_ignore(redisAsyncContext *ac, void *r, void *priv);
/* Reads the cluster's epoch from Redis, offering a fresh one if it has none. */
void cluster_ask_epoch(struct cluster *cl);

/* ingest: one tick of the role's timer. */
void cluster_ingest_tick(struct cluster *cl);

/* edge: one tick of the role's timer. */
void cluster_edge_tick(struct cluster *cl);
/* edge: the cluster's epoch is known (or changed): tell browsers, reset channels. */
void cluster_epoch_changed(struct cluster *cl, const char *epoch);
/* edge: the reader link's CLIENT ID answer (needed to unblock it). */
void cluster_on_reader_id(redisAsyncContext *ac, void *r, void *priv);
/* edge: tells browsers the UW link's state when it changed. */
void cluster_announce(struct cluster *cl);
/* edge: the registry evicts ch: free its edge state (registry on_evict). */
void cluster_edge_evict(struct reg_channel *ch, void *arg);
/* edge: the command link is back: backfills that were under way start again. */
void cluster_edge_cmd_up(struct cluster *cl);

#endif
