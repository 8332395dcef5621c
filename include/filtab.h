/* filtab.h: the distinct filters in use, each evaluated once per frame, pure.
 *
 * Subscribers whose filters have the same canonical form share one entry
 * (refcounted), so a frame on a channel costs one evaluation per distinct
 * filter among its subscribers, not one per subscriber. Fan-out opens a
 * round per frame (filtab_round); the first subscriber of an entry in the
 * round evaluates it, the others read the remembered result. The entries
 * are few (each costs ~3 KB), so a list is searched at subscribe time;
 * nothing is searched per frame. */
#ifndef UWRELAY_FILTAB_H
#define UWRELAY_FILTAB_H

#include <stdint.h>
#include "filter.h"
#include "frame.h"

struct filtab_entry {
	struct filter f;
	uint32_t refs;		/* memberships using it */
	uint8_t result;		/* of the last evaluation, valid in round `round` */
	uint64_t round;
	struct filtab_entry *prev, *next;
};

struct filtab {
	struct filtab_entry *head;
	uint32_t n;		/* distinct filters in use */
	uint64_t refs;		/* filtered memberships */
	uint64_t round;
	uint64_t evaluations;	/* filter_match calls */
	uint64_t skipped;	/* deliveries a filter held back */
};
/* A zeroed struct filtab is an empty table. */

/* The entry for f's canonical form (kind included), created if new, with
 * one more reference. Returns NULL on OOM (nothing changed). */
struct filtab_entry *filtab_get(struct filtab *t, const struct filter *f);
/* Parses filter text[0..len) for channel chan[0..chlen) and gets its
 * entry (as filtab_get). Returns 0 with *out (NULL when len is 0: no
 * filter), or -1 with *out NULL and err saying why (a bad filter, a
 * channel that takes none, or out of memory). */
int filtab_get_text(struct filtab *t, const char *chan, size_t chlen, const char *text, size_t len,
		    struct filtab_entry **out, char err[FILTER_ERR_MAX]);
/* Drops one reference; the entry is freed with its last. Accepts NULL. */
void filtab_put(struct filtab *t, struct filtab_entry *e);
/* Frees every entry whatever its references (at shutdown). */
void filtab_free(struct filtab *t);

/* Opens a round: the next filtab_pass() of each entry evaluates again. */
static inline void filtab_round(struct filtab *t) { t->round++; }
/* 1 if data frame fr passes e, evaluated at most once per entry and round.
 * A frame that is not a data envelope does not pass. */
int filtab_pass(struct filtab *t, struct filtab_entry *e, const struct frame *fr);

#endif
