/* listener.h: the browser port's listening socket and its accept loop.
 *
 * The relay accepts connections itself rather than through lws' listener,
 * because what happens at accept decides whether a flood can hurt it:
 * - a connection that has not finished its request ("pending") is capped
 *   per address and in total; past the total cap the oldest pending one
 *   is closed to make room, so stalled requests can hold neither the
 *   descriptors nor the accept queue (a health check behind them still
 *   gets in);
 * - running out of descriptors (EMFILE/ENFILE) never spins: a pending
 *   connection is closed for room, or the newcomer is accepted on a
 *   reserved descriptor and closed at once, or accepting pauses briefly;
 *   each is counted and logged at a bounded rate.
 * Accepted sockets are handed to lws as raw connections (with TLS when the
 * listener has it) of the "uwrelay-http" protocol (conn.c). */
#ifndef UWRELAY_LISTENER_H
#define UWRELAY_LISTENER_H

#include <libwebsockets.h>
#include <stdint.h>
#include "log.h"

struct relay;

/* Closes the oldest connection that has not finished its request, at once
 * (its descriptor is free on return). Returns 1, or 0 if there is none.
 * The browser side above the listener provides it (conn_evict_oldest). */
typedef int (*listener_evict_fn)(struct relay *r);

struct listener {
	struct relay *relay;
	listener_evict_fn evict_oldest;
	int fd;				/* listening socket, -1 if none */
	int reserve_fd;			/* kept open for EMFILE, -1 if none */
	struct lws *wsi;		/* fd adopted into the loop */
	int paused;			/* accept paused after running out of descriptors */
	lws_sorted_usec_list_t sul_resume;
	/* counters, for status and metrics */
	uint64_t accepted;		/* connections handed to lws */
	uint64_t refused_per_ip;	/* closed at once: their address had too many pending */
	uint64_t evicted;		/* pending connections closed to make room */
	uint64_t no_descriptor;		/* accepted on the reserve and closed: no descriptor */
	uint64_t pauses;		/* accept paused for lack of descriptors */
	unsigned fd_cap;		/* half the descriptor limit: pending connections stay below */
	struct log_ratelimit rl;
};

/* Binds and listens on addr:port (numeric IPv4/IPv6 or "localhost");
 * evict makes room when the pending cap or the descriptors run out.
 * Returns 0, or -1 with the reason in err. */
int listener_open(struct listener *l, struct relay *r, listener_evict_fn evict, const char *addr,
		  int port, char *err, size_t errlen);
/* Adopts the listening socket into the loop (after the vhost exists).
 * Returns 0 or -1. */
int listener_start(struct listener *l, struct lws_vhost *vh);
/* clients.max_pending, held below half the descriptor limit. */
unsigned listener_max_pending(const struct listener *l);
/* Stops accepting and listening (on shutdown): queued connections are reset,
 * new ones refused; the descriptor is closed by listener_free. */
void listener_stop(struct listener *l);
void listener_free(struct listener *l);
/* The lws callback of the "uwrelay-listen" protocol. */
int listener_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		      size_t len);

#endif
