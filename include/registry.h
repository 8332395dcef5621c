/* registry.h: which subscriber is on which channel, pure (no I/O).
 *
 * Like redis' pubsub, both directions are kept: a channel holds an array of
 * memberships, a subscriber holds its own, and each membership knows its
 * index in the channel array, so leaving is O(1) whatever the fan-out.
 * The registry never talks to UW: it tells the caller when a channel got
 * its first subscriber or lost its last, and the caller decides.
 *
 * Channels outlive their subscribers, so a channel's seq stays monotonic
 * for the life of the process; idle channels beyond REGISTRY_MAX_IDLE are
 * evicted oldest first, and a channel created again starts its seq above
 * every evicted one, so no name ever sees its seq go backwards. A channel
 * still joined upstream or on the dirty list (a leave lingering or queued
 * behind the budget) is never evicted: its leave would be lost and UW
 * would keep sending it. */
#ifndef UWRELAY_REGISTRY_H
#define UWRELAY_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include "chname.h"
#include "history.h"

#define REGISTRY_MAX_IDLE 4096

enum upstream_chan_state {
	UPCH_NONE = 0,		/* not joined upstream */
	UPCH_JOIN_SENT,		/* join sent, no ack yet */
	UPCH_ACKED,		/* ack with status ok */
	UPCH_ACK_FAILED,	/* ack with another status */
};

struct reg_member;

struct reg_channel {
	char name[CHNAME_MAX + 1];
	uint8_t name_len;
	uint8_t up_state;	/* enum upstream_chan_state, kept by upstream */
	uint8_t dirty;		/* on the registry's dirty list */
	uint64_t seq;		/* last seq given out */
	uint64_t frames_in, bytes_in;
	uint64_t join_sent_ms;	/* monotonic time of the last join sent */
	uint64_t want_changed_ms;	/* monotonic: got its first subscriber or lost its last */
	char ack_status[16];	/* last ack status seen, "" if none */
	struct reg_member **members;
	uint32_t n_members, cap_members;
	struct reg_channel *hnext;		/* hash chain */
	struct reg_channel *dprev, *dnext;	/* dirty list */
	struct reg_channel *iprev, *inext;	/* idle list (no members) */
	struct history hist;	/* recent frames, for resume */
	void *user;		/* the caller's per-channel state */
	const char *epoch;	/* the epoch its envelopes carry; NULL: the relay's */
	uint16_t tape_slot;	/* 1 + its index among tape.channels; 0: not taped */
};

struct reg_member {
	struct reg_channel *ch;
	struct reg_sub *sub;
	uint32_t idx;		/* position in ch->members */
	void *filter;		/* the caller's filter for this membership, NULL: every frame */
};

struct reg_sub {
	struct reg_member **m;
	uint16_t n, cap;
	void *owner;		/* the session that owns this subscriber */
};

struct registry {
	struct reg_channel **buckets;
	uint32_t n_buckets;	/* power of two */
	uint32_t n_channels;
	uint32_t n_idle;
	uint64_t n_members;
	uint64_t seq_floor;	/* highest seq of any evicted channel */
	struct reg_channel *dirty_head, *dirty_tail;	/* oldest first */
	struct reg_channel *idle_head, *idle_tail;
	/* Called just before an idle channel is freed, so the caller can free
	 * ch->user. May be NULL. */
	void (*on_evict)(struct reg_channel *ch, void *arg);
	void *evict_arg;
};

/* Returns 0, or -1 on OOM. */
int registry_init(struct registry *r);
/* Frees every channel (calling on_evict) and membership. Subscribers'
 * arrays are freed too; their owners must not use them afterwards. */
void registry_free(struct registry *r);

struct reg_channel *registry_find(const struct registry *r, const char *name, size_t len);
/* The channel `name` (must satisfy chname_valid), created without
 * subscribers (idle, evictable) if new, so frames can be kept for whoever
 * comes (a replay). Returns it, or NULL on OOM. */
struct reg_channel *registry_touch(struct registry *r, const char *name, size_t len);

enum { REG_ERR = -1, REG_OK = 0, REG_FIRST = 1, REG_ALREADY = 2 };
/* Subscribes s to channel `name` (must satisfy chname_valid), creating the
 * channel if needed. Returns REG_FIRST if s is now its only subscriber,
 * REG_OK if others were there, REG_ALREADY if s was subscribed (nothing
 * changed), REG_ERR on OOM (nothing changed). *out gets the channel. */
int registry_subscribe(struct registry *r, struct reg_sub *s, const char *name,
		       size_t len, struct reg_channel **out);

enum { REG_LAST = 1, REG_NOT_SUBSCRIBED = 2 };
/* Unsubscribes s from channel `name`. Returns REG_LAST if the channel has
 * no subscriber left, REG_OK if it has, REG_NOT_SUBSCRIBED if s was not on
 * it. *out (may be NULL) gets the channel, which stays valid until the
 * next registry call that can evict. */
int registry_unsubscribe(struct registry *r, struct reg_sub *s, const char *name,
			 size_t len, struct reg_channel **out);

/* Unsubscribes s from everything, calling last_left(ch, arg) for each
 * channel that lost its last subscriber. Frees s's array. */
void registry_unsubscribe_all(struct registry *r, struct reg_sub *s,
			      void (*last_left)(struct reg_channel *ch, void *arg), void *arg);

/* 1 if s is subscribed to ch. */
int registry_is_member(const struct reg_sub *s, const struct reg_channel *ch);
/* s's membership of ch, or NULL if s is not subscribed to it. */
struct reg_member *registry_membership(const struct reg_sub *s, const struct reg_channel *ch);

/* Marks ch for the upstream reconciler (idempotent): appended to the
 * dirty list, which stays in the order channels were marked. */
void registry_mark_dirty(struct registry *r, struct reg_channel *ch);
/* Pops the oldest dirty channel, or NULL. */
struct reg_channel *registry_pop_dirty(struct registry *r);
/* Takes ch off the dirty list (no-op if it is not on it), O(1). */
void registry_clear_dirty(struct registry *r, struct reg_channel *ch);

/* What UW must be told about ch, from its subscribers and up_state:
 * JOIN (wanted, not joined), LEAVE (joined, unwanted for at least
 * linger_ms since want_changed_ms), LINGER (joined, unwanted for less:
 * *due_ms gets when it becomes LEAVE) or NOTHING (UW already agrees). */
enum reg_up_action { REG_UP_NOTHING = 0, REG_UP_JOIN, REG_UP_LEAVE, REG_UP_LINGER };
enum reg_up_action registry_up_action(const struct reg_channel *ch, uint64_t now_ms,
				      uint64_t linger_ms, uint64_t *due_ms);

/* Next seq for a frame on ch. */
static inline uint64_t registry_next_seq(struct reg_channel *ch) { return ++ch->seq; }

/* Iterates every channel: for (ch = registry_first(r, &i); ch; ch = registry_next(r, ch, &i)). */
struct reg_channel *registry_first(const struct registry *r, uint32_t *it);
struct reg_channel *registry_next(const struct registry *r, struct reg_channel *ch, uint32_t *it);

/* Checks every invariant (both directions agree, indexes right, counts
 * right). Returns 0 if all hold. For tests. */
int registry_check(const struct registry *r);

#endif
