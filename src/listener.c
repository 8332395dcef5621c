/* listener.c: the browser port's accept loop (see listener.h). */
#define _GNU_SOURCE	/* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include "clock.h"
#include "listener.h"
#include "relay_state.h"

/* Connections accepted per wake-up, so one busy port cannot starve the
 * rest of the loop (UW's socket, timers). */
#define ACCEPT_BATCH 64
/* Requested accept queue; the kernel caps it at net.core.somaxconn. */
#define LISTEN_BACKLOG 65535
/* How long accepting pauses when no descriptor can be had at all. */
#define PAUSE_MS 100

int
listener_open(struct listener *l, struct relay *r, listener_evict_fn evict, const char *addr,
	      int port, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1;

	memset(l, 0, sizeof(*l));
	l->relay = r;
	l->evict_oldest = evict;
	l->fd = -1;
	l->reserve_fd = -1;
	l->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 3);
	memset(&ss, 0, sizeof(ss));
	if (!strcmp(addr, "localhost"))
		addr = "127.0.0.1";
	if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in6);
	} else {
		snprintf(err, errlen, "listen.address %s is not a numeric IPv4 or IPv6 address", addr);
		return -1;
	}
	l->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)	/* [::] means IPv6 only; 0.0.0.0 is IPv4 */
		setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* The accept queue is what absorbs a reconnect storm (every browser
	 * back at once after a restart): a SYN that finds it full is dropped
	 * and retried by the client 1, 3, 7 s later. Ask for far more than
	 * the kernel grants, so raising net.core.somaxconn takes effect. */
	if (bind(l->fd, (struct sockaddr *)&ss, sl) || listen(l->fd, LISTEN_BACKLOG)) {
		snprintf(err, errlen, "cannot listen on %s:%d: %s%s", addr, port, strerror(errno),
			 errno == EADDRNOTAVAIL ? " (is that an address of this host?)" : "");
		close(l->fd);
		l->fd = -1;
		return -1;
	}
	l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	/* Pending connections must leave room for sessions, UW, Redis and
	 * the relay's own files: at most half the descriptor limit. */
	{
		struct rlimit rl;

		l->fd_cap = 1u << 30;
		if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY)
			l->fd_cap = rl.rlim_cur / 2 > 8 ? (unsigned)(rl.rlim_cur / 2) : 8;
	}
	return 0;
}

unsigned
listener_max_pending(const struct listener *l)
{
	uint64_t cap = (uint64_t)l->relay->cfg.max_pending;

	return cap < l->fd_cap ? (unsigned)cap : l->fd_cap;
}

static void
resume_cb(lws_sorted_usec_list_t *sul)
{
	struct listener *l = lws_container_of(sul, struct listener, sul_resume);

	l->paused = 0;
	if (l->wsi)
		lws_rx_flow_control(l->wsi, 1);
}

static void
pause_accept(struct listener *l)
{
	if (l->paused || !l->wsi)
		return;
	l->paused = 1;
	l->pauses++;
	lws_rx_flow_control(l->wsi, 0);
	lws_sul_schedule(l->relay->ctx, 0, &l->sul_resume, resume_cb, PAUSE_MS * 1000);
}

/* No descriptor for a new connection. Returns 1 if accepting may go on. */
static int
out_of_descriptors(struct listener *l, int err)
{
	struct relay *r = l->relay;
	int fd;

	/* a stalled request is the cheapest thing to give up */
	if (l->evict_oldest(r)) {
		l->evicted++;
		log_limited(&l->rl, clock_mono_ms(), LOG_WARN,
			    "listener: out of file descriptors (%s): closing the oldest unfinished "
			    "request to make room (%llu so far)", strerror(err),
			    (unsigned long long)l->evicted);
		return 1;
	}
	if (l->reserve_fd >= 0) {
		/* take the newcomer on the reserve and close it at once: it
		 * leaves the queue instead of waking us again and again */
		close(l->reserve_fd);
		fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			close(fd);
			l->no_descriptor++;
		}
		l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		log_limited(&l->rl, clock_mono_ms(), LOG_WARN,
			    "listener: out of file descriptors (%s): closing new connections at once "
			    "(%llu so far); raise LimitNOFILE or lower clients.max_connections",
			    strerror(err), (unsigned long long)l->no_descriptor);
		if (fd >= 0 && l->reserve_fd >= 0)
			return 1;
	}
	log_limited(&l->rl, clock_mono_ms(), LOG_WARN,
		    "listener: out of file descriptors (%s): accepting pauses for %d ms",
		    strerror(err), PAUSE_MS);
	pause_accept(l);
	return 0;
}

/* TCP keepalive: a browser that vanished without a FIN (laptop lid, NAT
 * timeout) is found within about 90 s rather than the kernel's 2 hours. */
static void
set_keepalive(int fd)
{
	int one = 1, idle = 60, intvl = 10, cnt = 3;

	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

static void
accept_some(struct listener *l)
{
	struct relay *r = l->relay;

	for (int n = 0; n < ACCEPT_BATCH && !r->stopping; n++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char ip[IPCOUNT_ADDR_MAX] = "";
		lws_sock_file_fd_type u;
		struct lws_adopt_desc ad;
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int one = 1;

		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				if (out_of_descriptors(l, errno))
					continue;
				return;
			}
			log_limited(&l->rl, clock_mono_ms(), LOG_WARN, "listener: accept: %s",
				    strerror(errno));
			pause_accept(l);
			return;
		}
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof(ip));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof(ip));
		if (ipcount_get(&r->pending_ip, ip) >= (uint32_t)r->cfg.max_pending_per_ip) {
			l->refused_per_ip++;
			log_limited(&l->rl, clock_mono_ms(), LOG_INFO,
				    "listener: %s has %lld unfinished requests open: closing its new "
				    "connections (clients.max_pending_per_ip)", ip,
				    (long long)r->cfg.max_pending_per_ip);
			close(fd);
			continue;
		}
		if (r->n_pending >= listener_max_pending(l) && l->evict_oldest(r)) {
			l->evicted++;
			log_limited(&l->rl, clock_mono_ms(), LOG_WARN,
				    "listener: %u connections have not finished a request: closing the "
				    "oldest to make room (clients.max_pending; %llu so far)",
				    listener_max_pending(l), (unsigned long long)l->evicted);
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		set_keepalive(fd);
		memset(&ad, 0, sizeof(ad));
		u.sockfd = fd;
		ad.vh = r->vh_server;
		ad.type = LWS_ADOPT_SOCKET | (r->cfg.listen_tls_cert[0] ? LWS_ADOPT_ALLOW_SSL : 0);
		ad.fd = u;
		ad.vh_prot_name = "uwrelay-http";
		/* on failure lws has closed the socket */
		if (lws_adopt_descriptor_vhost_via_info(&ad))
			l->accepted++;
	}
}

int
listener_start(struct listener *l, struct lws_vhost *vh)
{
	lws_sock_file_fd_type u;

	u.filefd = (lws_filefd_type)(intptr_t)l->fd;
	l->wsi = lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, u, "uwrelay-listen", NULL);
	if (!l->wsi)
		return -1;
	lws_set_opaque_user_data(l->wsi, l);
	return 0;
}

void
listener_stop(struct listener *l)
{
	lws_sul_cancel(&l->sul_resume);
	if (l->wsi)
		lws_rx_flow_control(l->wsi, 0);
	/* Stop listening at once, not when the process exits: connections
	 * queued meanwhile are reset and new ones refused now, so browsers
	 * that reconnect while the relay stops retry promptly (and reach its
	 * successor) instead of waiting in a queue nobody will accept from,
	 * or, once it is full, for their SYN's retransmission 1-7 s later. */
	if (l->fd >= 0)
		shutdown(l->fd, SHUT_RDWR);
}

void
listener_free(struct listener *l)
{
	lws_sul_cancel(&l->sul_resume);
	/* the adopted wsi closes the listening socket with the context */
	if (!l->wsi && l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	l->wsi = NULL;
	if (l->reserve_fd >= 0)
		close(l->reserve_fd);
	l->reserve_fd = -1;
}

int
listener_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		  size_t len)
{
	struct listener *l = lws_get_opaque_user_data(wsi);
	(void)user;
	(void)in;
	(void)len;

	if (!l)
		return 0;
	if (reason == LWS_CALLBACK_RAW_RX_FILE)
		accept_some(l);
	else if (reason == LWS_CALLBACK_RAW_CLOSE_FILE) {
		l->wsi = NULL;
		l->fd = -1;	/* lws closed it */
	}
	return 0;
}
