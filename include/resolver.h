/* resolver.h: host name lookups off the event loop.
 *
 * Debian's libwebsockets 4.1.6 has no async DNS: a client connect calls
 * getaddrinfo() inside the loop, so a resolver that hangs would freeze every
 * browser. The relay resolves UW's host in a short-lived thread instead and
 * hands lws a numeric address (the name still goes in Host and SNI, and the
 * certificate is still checked against it). The thread touches only its
 * own request, which it frees if the relay gave up on it meanwhile. */
#ifndef UWRELAY_RESOLVER_H
#define UWRELAY_RESOLVER_H

#include <pthread.h>

struct resolve_req {
	pthread_mutex_t mu;
	int refs;		/* the thread's and the caller's */
	int done;
	char host[256];
	char addr[64];		/* numeric result, "" on failure */
	char err[128];
	void (*wake)(void *arg);	/* called from the thread when done */
	void *wake_arg;
};

/* 1 if host is already a numeric IPv4 or IPv6 address. */
int resolver_is_numeric(const char *host);
/* Starts resolving host; wake(arg) is called from the resolver thread when
 * done, unless the caller released the request first (it must be safe from
 * another thread: writing to an eventfd, say). Returns the request (caller
 * holds a reference), or NULL if no thread could start. */
struct resolve_req *resolver_start(const char *host, void (*wake)(void *), void *arg);
/* A wake function for resolver_start(): adds 1 to the eventfd whose number
 * is arg (cast through intptr_t), which wakes the relay's loop. */
void resolver_wake_eventfd(void *arg);
/* If finished, copies the result (addr or err) and returns 1; else 0. */
int resolver_result(struct resolve_req *q, char *addr, size_t alen, char *err, size_t elen);
/* Drops the caller's reference (the thread frees the request if it is
 * still running). Accepts NULL. */
void resolver_release(struct resolve_req *q);

#endif
