/* seenset.h: the ids a REST source has already published, bounded, pure.
 *
 * A FIFO of 64-bit hashes (FNV-1a of the id) with an open-addressing index:
 * the oldest id is forgotten when the set is full, so memory is fixed at
 * about 24 bytes an entry. A forgotten id that comes back is published
 * again; with the default 10,000 entries and 100-row answers that needs a
 * row to stay in UW's answer through 100 polls of fresh rows. */
#ifndef UWRELAY_SEENSET_H
#define UWRELAY_SEENSET_H

#include <stddef.h>
#include <stdint.h>

struct seenset {
	uint64_t *fifo;		/* cap entries, oldest at head */
	uint32_t cap, head, count;
	uint64_t *index;	/* 2*cap slots: 0 free, 1 tombstone, else hash */
	uint32_t index_cap;
	uint32_t tombs;		/* deleted slots; the index is rebuilt past cap */
};

/* Returns 0, or -1 on OOM. */
int seenset_init(struct seenset *s, uint32_t cap);
void seenset_free(struct seenset *s);
uint64_t seenset_hash(const char *p, size_t len);
/* 1 if h is in the set. */
int seenset_has(const struct seenset *s, uint64_t h);
/* Adds h (forgetting the oldest if full). Returns 1 if it was new. */
int seenset_add(struct seenset *s, uint64_t h);

#endif
