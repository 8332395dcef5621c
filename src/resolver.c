/* resolver.c: one detached thread per lookup (rare: only on reconnects). */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "resolver.h"

int
resolver_is_numeric(const char *host)
{
	unsigned char b[16];

	return inet_pton(AF_INET, host, b) == 1 || inet_pton(AF_INET6, host, b) == 1;
}

static void
unref(struct resolve_req *q)
{
	int last;

	pthread_mutex_lock(&q->mu);
	last = --q->refs == 0;
	pthread_mutex_unlock(&q->mu);
	if (last) {
		pthread_mutex_destroy(&q->mu);
		free(q);
	}
}

static void *
run(void *arg)
{
	struct resolve_req *q = arg;
	struct addrinfo hints, *res = NULL;
	char addr[64] = "", err[128] = "";
	int rc, alive;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(q->host, NULL, &hints, &res);
	if (rc)
		snprintf(err, sizeof(err), "cannot resolve %.64s: %s", q->host, gai_strerror(rc));
	else {
		/* IPv4 first when there is one: lws takes a single address,
		 * and a host without IPv6 routing is the commoner failure */
		struct addrinfo *pick = res;

		for (struct addrinfo *a = res; a; a = a->ai_next)
			if (a->ai_family == AF_INET) {
				pick = a;
				break;
			}
		if (getnameinfo(pick->ai_addr, pick->ai_addrlen, addr, sizeof(addr), NULL, 0, NI_NUMERICHOST))
			snprintf(err, sizeof(err), "cannot resolve %.64s: no usable address", q->host);
	}
	if (res)
		freeaddrinfo(res);
	/* wake under the lock: the caller cannot release (and then tear
	 * down what wake touches) while it runs */
	pthread_mutex_lock(&q->mu);
	memcpy(q->addr, addr, sizeof(q->addr));
	memcpy(q->err, err, sizeof(q->err));
	q->done = 1;
	alive = q->refs > 1;
	if (alive && q->wake)
		q->wake(q->wake_arg);
	pthread_mutex_unlock(&q->mu);
	unref(q);
	return NULL;
}

void
resolver_wake_eventfd(void *arg)
{
	uint64_t one = 1;

	if (write((int)(intptr_t)arg, &one, sizeof(one)) < 0) {
		/* the counter is full: the loop has a wake-up pending anyway */
	}
}

struct resolve_req *
resolver_start(const char *host, void (*wake)(void *), void *arg)
{
	struct resolve_req *q = calloc(1, sizeof(*q));
	pthread_attr_t at;
	pthread_t th;

	if (!q)
		return NULL;
	pthread_mutex_init(&q->mu, NULL);
	q->refs = 2;
	snprintf(q->host, sizeof(q->host), "%s", host);
	q->wake = wake;
	q->wake_arg = arg;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &at, run, q)) {
		pthread_attr_destroy(&at);
		pthread_mutex_destroy(&q->mu);
		free(q);
		return NULL;
	}
	pthread_attr_destroy(&at);
	return q;
}

int
resolver_result(struct resolve_req *q, char *addr, size_t alen, char *err, size_t elen)
{
	int done;

	pthread_mutex_lock(&q->mu);
	done = q->done;
	if (done) {
		snprintf(addr, alen, "%s", q->addr);
		snprintf(err, elen, "%s", q->err);
	}
	pthread_mutex_unlock(&q->mu);
	return done;
}

void
resolver_release(struct resolve_req *q)
{
	if (q)
		unref(q);
}
