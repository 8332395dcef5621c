/* ipcount.h: connections per client address, pure.
 *
 * A small open-addressing hash of address string -> count, so
 * clients.max_per_ip can be enforced in O(1). Entries whose count drops to
 * zero are removed (tombstones are cleaned by rehashing on growth). */
#ifndef UWRELAY_IPCOUNT_H
#define UWRELAY_IPCOUNT_H

#include <stddef.h>
#include <stdint.h>

#define IPCOUNT_ADDR_MAX 48

struct ipcount_slot {
	char addr[IPCOUNT_ADDR_MAX];	/* "" free; "\x01" tombstone */
	uint32_t count;
};

struct ipcount {
	struct ipcount_slot *slots;
	uint32_t cap;		/* power of two, or 0 */
	uint32_t used;		/* live + tombstones */
	uint32_t live;
};

/* Current count for addr (0 if unknown). */
uint32_t ipcount_get(const struct ipcount *t, const char *addr);
/* Adds one for addr. Returns the new count, or 0 on OOM (nothing changed). */
uint32_t ipcount_inc(struct ipcount *t, const char *addr);
/* Removes one for addr (no-op if unknown). Returns the new count. */
uint32_t ipcount_dec(struct ipcount *t, const char *addr);
void ipcount_free(struct ipcount *t);

#endif
