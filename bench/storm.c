/* storm: N WebSocket subscribers that ride out a relay restart.
 *
 * bench/storm.py drives it: the tool connects N subscribers to uwrelay's
 * generic endpoint, spread over C channels (subscriber i on channel
 * i mod C), waits until every one is subscribed, then creates
 * the --steady-file. The driver restarts the relay. Every subscriber sees
 * its socket close and reconnects at once with ?since=LAST&epoch=EPOCH (a
 * refused or reset attempt is retried after --retry-ms), as a browser's
 * uwrelay.js does. Measured, from the first 101 of the new relay:
 *   - when each subscriber is caught up: its `subscribed` notice arrived
 *     and it has every frame up to the seq that notice names (replayed
 *     from the relay's history or tape), or the relay said it cannot
 *     (a `gap` notice: reason `epoch` when the relay came back with a new
 *     epoch, counted apart, or `too_old`);
 *   - frames replayed (seq <= the notice's seq, same epoch as before);
 *   - gaps (a seq skipped within one epoch) and duplicates (a seq seen
 *     again within one epoch): both must be 0.
 * Output: one JSON object on stdout. Plain ws:// on 127.0.0.0/8 only;
 * everything bounded by --timeout.
 *
 * One epoll loop, no library. Server frames are never masked; the only
 * frames sent are pongs (masked with a zero key, which RFC 6455 allows). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF (256 * 1024)
#define MAX_CHANNELS 64

enum sstate { ST_IDLE, ST_CONNECTING, ST_HS, ST_OPEN };

struct sub {
	int fd;
	enum sstate st;
	int chan;
	uint8_t *in;		/* bytes not yet parsed (partial head or frame) */
	size_t in_len, in_cap;
	/* what the subscriber has, across connections */
	char epoch[17];
	uint64_t last_seq;
	int has_data;
	/* this connection */
	int subscribed;		/* its `subscribed` notice arrived */
	uint64_t sub_seq;	/* the seq that notice named */
	char conn_epoch[17];	/* the epoch it came with */
	int resumed;		/* reconnected after the steady point */
	int caught;		/* caught up after the restart */
	uint64_t t_caught;
	uint64_t due;		/* reconnect time, while queued */
};

static struct sub *subs;
static int n_subs, n_chan, n_src_ips = 1;
static char chans[MAX_CHANNELS][64];
static char host[64] = "127.0.0.1", path[256] = "/api/stream/ws";
static int port;
static int ep;
static uint8_t *rbuf;
static uint64_t retry_ns = 50 * 1000000ull;
/* the initial fill is paced (it is not what is measured): this many
 * handshakes in flight at most, as bench/uwbench does */
#define FILL_INFLIGHT 256
static int n_inflight;

/* reconnect queue: a ring of subscriber indices in due order (one fixed
 * delay, so appending keeps the order) */
static int *rq;
static int rq_head, rq_len;

/* figures */
static int steady;		/* steady point passed: the restart is awaited */
static uint64_t t_steady, t_first_close, t_first_101, t_last_101, t_all_caught;
static uint64_t n_ready0, n_caught, n_closed_after, n_reconnect_101;
static uint64_t n_refused, n_reset, n_http_fail, frames, replayed, gaps, dups, epoch_gaps,
	too_old_gaps, live_after;
static uint64_t *catch_ns;

static double ms(uint64_t ns);

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("storm: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void
queue_reconnect(int i, uint64_t delay)
{
	int cap = n_subs;

	subs[i].st = ST_IDLE;
	subs[i].due = now_ns() + delay;
	rq[(rq_head + rq_len) % cap] = i;
	rq_len++;
}

static void
sub_drop(struct sub *s, int i, uint64_t delay)
{
	if (s->st == ST_CONNECTING || s->st == ST_HS)
		n_inflight--;
	if (s->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
		close(s->fd);
	}
	s->fd = -1;
	s->in_len = 0;
	s->subscribed = 0;
	if (steady && !t_first_close)
		t_first_close = now_ns();
	if (steady)
		n_closed_after++;
	queue_reconnect(i, delay);
}

static void
sub_connect(int i)
{
	struct sub *s = &subs[i];
	struct sockaddr_in sa, src;
	int one = 1;

	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		die("socket: %s (raise ulimit -n)", strerror(errno));
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (n_src_ips > 1) {
		/* past one source address's ephemeral ports: 127.0.0.2.. */
		memset(&src, 0, sizeof(src));
		src.sin_family = AF_INET;
		src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(i % n_src_ips));
		/* the port is chosen at connect(), for this destination: a
		 * port picked at bind() may meet a TIME_WAIT of the last run */
		setsockopt(s->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(s->fd, (struct sockaddr *)&src, sizeof(src)))
			die("bind 127.0.0.%d: %s", 2 + i % n_src_ips, strerror(errno));
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, host, &sa.sin_addr);
	s->st = ST_CONNECTING;
	n_inflight++;
	if (connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS) {
		n_refused += steady;
		n_inflight--;
		close(s->fd);
		s->fd = -1;
		queue_reconnect(i, retry_ns);
		return;
	}
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)i };
	epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
}

static void
send_head(struct sub *s, int i)
{
	char req[768], q[160];
	int n;

	if (s->epoch[0])
		snprintf(q, sizeof(q), "&since=%llu&epoch=%s", (unsigned long long)s->last_seq,
			 s->epoch);
	else
		q[0] = 0;
	n = snprintf(req, sizeof(req),
		     "GET %s?channels=%s%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		     "Sec-WebSocket-Version: 13\r\n\r\n", path, chans[s->chan], q, host, port);
	/* a fresh socket's buffer takes a few hundred bytes at once */
	if (write(s->fd, req, (size_t)n) != n) {
		n_reset += steady;
		sub_drop(s, i, retry_ns);
		return;
	}
	s->st = ST_HS;
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
	epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
}

static void
check_caught(struct sub *s, int i)
{
	if (s->caught || !s->resumed || !s->subscribed)
		return;
	if (s->last_seq < s->sub_seq || strcmp(s->epoch, s->conn_epoch))
		return;
	s->caught = 1;
	s->t_caught = now_ns();
	catch_ns[n_caught++] = s->t_caught - t_first_101;
	if (n_caught == (uint64_t)n_subs)
		t_all_caught = s->t_caught;
	(void)i;
}

/* finds "key": in p[0..n) and returns what follows, or NULL */
static const char *
field(const char *p, size_t n, const char *key)
{
	const char *r = memmem(p, n, key, strlen(key));

	return r ? r + strlen(key) : NULL;
}

static void
copy_epoch(char dst[17], const char *e, const char *end)
{
	size_t k = 0;

	while (e && e < end && *e != '"' && k < 16)
		dst[k++] = *e++;
	dst[k] = 0;
}

static void
on_message(struct sub *s, int i, const char *p, size_t n)
{
	/* the envelope's head comes first: channel, seq, epoch */
	size_t head = n < 512 ? n : 512;
	const char *end = p + head;

	if (head > 20 && !memcmp(p, "{\"channel\":\"$relay\"", 19)) {
		const char *d = field(p, head, "\"data\":"), *t, *e;

		if (!d)
			return;
		t = field(d, (size_t)(end - d), "\"type\":\"");
		if (t && !strncmp(t, "subscribed\"", 11)) {
			const char *sq = field(t, (size_t)(end - t), "\"seq\":");

			s->subscribed = 1;
			s->sub_seq = sq ? strtoull(sq, NULL, 10) : 0;
			e = field(p, head, "\"epoch\":\"");
			copy_epoch(s->conn_epoch, e, end);
			if (strcmp(s->epoch, s->conn_epoch)) {
				/* a new epoch: seqs start again and live data
				 * follows; nothing can be replayed */
				if (s->epoch[0] && s->resumed)
					epoch_gaps++;
				memcpy(s->epoch, s->conn_epoch, sizeof(s->epoch));
				s->last_seq = s->sub_seq;
			}
			/* subscribed: it has a place to resume from */
			if (!s->has_data) {
				s->has_data = 1;
				if (!steady)
					n_ready0++;
			}
			check_caught(s, i);
		} else if (t && !strncmp(t, "gap\"", 4)) {
			if (memmem(d, (size_t)(end - d), "\"reason\":\"too_old\"", 18))
				too_old_gaps++;
		}
		return;
	}
	const char *sq = field(p, head, "\"seq\":"), *e = field(p, head, "\"epoch\":\"");
	char ep_[17];
	uint64_t seq;

	if (!sq || !e)
		return;
	seq = strtoull(sq, NULL, 10);
	copy_epoch(ep_, e, end);
	frames++;
	if (strcmp(ep_, s->epoch)) {
		memcpy(s->epoch, ep_, sizeof(s->epoch));
	} else if (s->has_data || s->subscribed) {
		if (seq <= s->last_seq)
			dups++;
		else if (seq != s->last_seq + 1)
			gaps++;
	}
	if (s->resumed && s->subscribed && seq <= s->sub_seq)
		replayed++;
	else if (s->resumed)
		live_after++;
	if (seq > s->last_seq)
		s->last_seq = seq;
	if (!s->has_data) {
		s->has_data = 1;
		if (!steady)
			n_ready0++;
	}
	check_caught(s, i);
}

/* parses whole frames from s->in; returns -1 if the socket must go */
static int
parse_frames(struct sub *s, int i)
{
	size_t off = 0;

	while (s->in_len - off >= 2) {
		uint8_t *b = s->in + off;
		size_t avail = s->in_len - off, hl = 2;
		uint64_t len = b[1] & 0x7f;
		int op = b[0] & 0x0f;

		if (len == 126) {
			if (avail < 4)
				break;
			len = (uint64_t)b[2] << 8 | b[3];
			hl = 4;
		} else if (len == 127) {
			if (avail < 10)
				break;
			len = 0;
			for (int k = 0; k < 8; k++)
				len = len << 8 | b[2 + k];
			hl = 10;
		}
		if (avail < hl + len)
			break;
		if (op == 1)
			on_message(s, i, (const char *)b + hl, (size_t)len);
		else if (op == 8)
			return -1;
		else if (op == 9 && len <= 125) {
			uint8_t pong[2 + 4 + 125];

			pong[0] = 0x8a;
			pong[1] = (uint8_t)(0x80 | len);
			memset(pong + 2, 0, 4);
			memcpy(pong + 6, b + hl, (size_t)len);
			if (write(s->fd, pong, 6 + (size_t)len) < 0)
				return -1;
		}
		off += hl + (size_t)len;
	}
	memmove(s->in, s->in + off, s->in_len - off);
	s->in_len -= off;
	return 0;
}

static void
append_in(struct sub *s, const uint8_t *p, size_t n)
{
	if (s->in_len + n > s->in_cap) {
		size_t cap = s->in_cap ? s->in_cap : 4096;

		while (cap < s->in_len + n)
			cap *= 2;
		s->in = realloc(s->in, cap);
		if (!s->in)
			die("out of memory");
		s->in_cap = cap;
	}
	memcpy(s->in + s->in_len, p, n);
	s->in_len += n;
}

static void
sub_readable(struct sub *s, int i)
{
	for (;;) {
		ssize_t r = read(s->fd, rbuf, RBUF);

		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			if (s->st == ST_HS)
				n_reset += steady;
			sub_drop(s, i, s->st == ST_OPEN ? 0 : retry_ns);
			return;
		}
		append_in(s, rbuf, (size_t)r);
		if (s->st == ST_HS) {
			uint8_t *eoh = memmem(s->in, s->in_len, "\r\n\r\n", 4);
			size_t hl;

			if (!eoh)
				continue;
			if (s->in_len < 12 || memcmp(s->in, "HTTP/1.1 101", 12)) {
				/* refused (503, 429, ...): try again later */
				n_http_fail += steady;
				sub_drop(s, i, retry_ns);
				return;
			}
			hl = (size_t)(eoh + 4 - s->in);
			memmove(s->in, s->in + hl, s->in_len - hl);
			s->in_len -= hl;
			s->st = ST_OPEN;
			n_inflight--;
			if (steady) {
				uint64_t t = now_ns();

				if (!t_first_101)
					t_first_101 = t;
				t_last_101 = t;
				n_reconnect_101++;
				s->resumed = 1;
			}
		}
		if (parse_frames(s, i)) {
			sub_drop(s, i, 0);
			return;
		}
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double
ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static void
usage(void)
{
	fputs("usage: storm --port P --channels a,b,c --subs N [--path /api/stream/ws]\n"
	      "             [--src-ips K] [--retry-ms MS] --steady-file FILE [--timeout S]\n"
	      "Connects N subscribers, creates FILE when all have data, then measures their\n"
	      "reconnection and catch-up after the relay restarts. JSON on stdout.\n", stderr);
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "path", required_argument, NULL, 'P' },
		{ "channels", required_argument, NULL, 'c' },
		{ "subs", required_argument, NULL, 'n' },
		{ "src-ips", required_argument, NULL, 's' },
		{ "retry-ms", required_argument, NULL, 'r' },
		{ "steady-file", required_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *steady_file = NULL;
	double timeout_s = 120;
	struct epoll_event evs[1024];
	struct rlimit rl;
	uint64_t deadline;
	int opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'P': snprintf(path, sizeof(path), "%s", optarg); break;
		case 'c': {
			char *save = NULL, *t, *list = strdup(optarg);

			for (t = strtok_r(list, ",", &save); t && n_chan < MAX_CHANNELS;
			     t = strtok_r(NULL, ",", &save))
				snprintf(chans[n_chan++], sizeof(chans[0]), "%s", t);
			free(list);
			break;
		}
		case 'n': n_subs = atoi(optarg); break;
		case 's': n_src_ips = atoi(optarg); break;
		case 'r': retry_ns = (uint64_t)(atof(optarg) * 1e6); break;
		case 'f': steady_file = optarg; break;
		case 't': timeout_s = atof(optarg); break;
		default: usage();
		}
	}
	if (port <= 0 || port > 65535 || n_chan < 1 || n_subs < 1 || !steady_file ||
	    n_src_ips < 1 || n_src_ips > 200 || timeout_s <= 0)
		usage();
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	subs = calloc((size_t)n_subs, sizeof(*subs));
	rq = calloc((size_t)n_subs, sizeof(*rq));
	catch_ns = calloc((size_t)n_subs, sizeof(*catch_ns));
	rbuf = malloc(RBUF);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!subs || !rq || !catch_ns || !rbuf || ep < 0)
		die("out of memory");
	for (int i = 0; i < n_subs; i++) {
		subs[i].fd = -1;
		subs[i].chan = i % n_chan;
		queue_reconnect(i, 0);
	}
	deadline = now_ns() + (uint64_t)(timeout_s * 1e9);
	uint64_t next_progress = 0;

	while (!t_all_caught) {
		uint64_t now = now_ns();
		int timeout_ms = 100, n;

		if (now > deadline)
			break;
		if (steady && now >= next_progress) {
			/* progress, for a look at where a slow storm spends its time */
			fprintf(stderr, "storm: +%.0f ms: %llu reconnected, %llu caught up, %d in "
				"handshake, %d waiting to retry\n", ms(now - t_steady),
				(unsigned long long)n_reconnect_101, (unsigned long long)n_caught,
				n_inflight, rq_len);
			next_progress = now + 250000000ull;
		}
		/* a bounded number of connects per turn: the initial fill
		 * and the storm both go out as fast as the loop turns */
		for (int k = 0; rq_len && k < 512 && (steady || n_inflight < FILL_INFLIGHT); k++) {
			int i = rq[rq_head];

			if (subs[i].due > now) {
				timeout_ms = (int)((subs[i].due - now) / 1000000) + 1;
				break;
			}
			rq_head = (rq_head + 1) % n_subs;
			rq_len--;
			sub_connect(i);
			timeout_ms = 0;
		}
		n = epoll_wait(ep, evs, 1024, timeout_ms);
		for (int k = 0; k < n; k++) {
			int i = (int)evs[k].data.u32;
			struct sub *s = &subs[i];

			if (s->fd < 0)
				continue;
			if (s->st == ST_CONNECTING) {
				int err = 0;
				socklen_t el = sizeof(err);

				getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err || (evs[k].events & (EPOLLERR | EPOLLHUP))) {
					n_refused += steady;
					sub_drop(s, i, retry_ns);
					continue;
				}
				send_head(s, i);
				continue;
			}
			sub_readable(s, i);
		}
		if (!steady && n_ready0 == (uint64_t)n_subs) {
			FILE *f = fopen(steady_file, "w");

			if (!f)
				die("%s: %s", steady_file, strerror(errno));
			fclose(f);
			steady = 1;
			t_steady = now_ns();
			fprintf(stderr, "storm: %d subscribers on %d channels have data; restart the "
				"relay now\n", n_subs, n_chan);
		}
	}

	uint64_t p50 = 0, p99 = 0, mx = 0;

	if (!t_all_caught) {
		int by[4] = { 0 }, nodata = 0;

		for (int i = 0; i < n_subs; i++) {
			by[subs[i].st]++;
			nodata += !subs[i].has_data;
		}
		fprintf(stderr, "storm: timed out: %d waiting, %d connecting, %d in handshake, %d open; "
			"%d without data; %d handshakes in flight\n", by[0], by[1], by[2], by[3], nodata,
			n_inflight);
	}

	if (n_caught) {
		qsort(catch_ns, n_caught, sizeof(*catch_ns), cmp_u64);
		p50 = catch_ns[n_caught / 2];
		p99 = catch_ns[(n_caught * 99) / 100 < n_caught ? (n_caught * 99) / 100 : n_caught - 1];
		mx = catch_ns[n_caught - 1];
	}
	printf("{\"subs\":%d,\"channels\":%d,\"steady\":%d,\"caught_up\":%llu,"
	       "\"timed_out\":%d,\"first_close_mono_ns\":%llu,\"first_101_mono_ns\":%llu,"
	       "\"all_connected_ms\":%.1f,\"all_caught_up_ms\":%.1f,\"catch_up_p50_ms\":%.1f,"
	       "\"catch_up_p99_ms\":%.1f,\"catch_up_max_ms\":%.1f,\"down_ms\":%.1f,"
	       "\"reconnected\":%llu,\"refused\":%llu,\"reset\":%llu,\"http_refused\":%llu,"
	       "\"frames\":%llu,\"replayed\":%llu,\"live_after\":%llu,\"gaps\":%llu,\"dups\":%llu,"
	       "\"epoch_gaps\":%llu,\"too_old_gaps\":%llu}\n",
	       n_subs, n_chan, steady, (unsigned long long)n_caught, !t_all_caught,
	       (unsigned long long)t_first_close, (unsigned long long)t_first_101,
	       t_first_101 ? ms(t_last_101 - t_first_101) : -1.0,
	       t_all_caught ? ms(t_all_caught - t_first_101) : -1.0, ms(p50), ms(p99), ms(mx),
	       t_first_101 && t_first_close ? ms(t_first_101 - t_first_close) : -1.0,
	       (unsigned long long)n_reconnect_101, (unsigned long long)n_refused,
	       (unsigned long long)n_reset, (unsigned long long)n_http_fail,
	       (unsigned long long)frames, (unsigned long long)replayed,
	       (unsigned long long)live_after, (unsigned long long)gaps, (unsigned long long)dups,
	       (unsigned long long)epoch_gaps, (unsigned long long)too_old_gaps);
	(void)t_steady;
	return t_all_caught ? 0 : 1;
}
