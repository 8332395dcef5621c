/* uwbench.c: load tool for uwrelay and its peers (nchan, the FastAPI plan).
 *
 * One process, one epoll loop, plain ws:// on loopback. It plays both ends
 * of a relay:
 *
 *   upstream  --target uw:  a minimal UW-compatible WebSocket server on
 *             127.0.0.1:--listen (path /socket?token=...). It answers each
 *             {"channel":"X","msg_type":"join"} with UW's ack and sends
 *             ["flow-alerts",{"n":N,"t":SEND_NS,...}] data frames to the
 *             connection that joined last.
 *             --target pub: a WebSocket client of a publisher endpoint
 *             (nchan's `nchan_publisher websocket`); each message is already
 *             shaped like uwrelay's envelope so subscribers of every target
 *             receive the same bytes.
 *             --mode ceiling: no relay at all; a forked writer pinned to
 *             --writer-cpu writes pre-built frames straight into the
 *             subscribers' sockets (one send() per frame, or --ceil-batch
 *             frames per send()): the physical limit to compare against.
 *   subscribers  --subs M WebSocket clients of --sub, spread over source
 *             addresses 127.0.0.2.. (bind before connect) so more than the
 *             ~28k ephemeral ports of one address can be used. Each finds
 *             "n": and "t": in every message (wherever the relay's envelope
 *             put the payload) and counts deliveries, latency (receive -
 *             send, CLOCK_MONOTONIC of this one process), gaps (counters
 *             skipped), duplicates and closes.
 *
 * Modes: max (the sender keeps at most --inflight frames not yet received by
 * the slowest subscriber: no unbounded queueing anywhere), rate (--rate R
 * frames/s), idle (open --subs sockets, report the target's RSS growth per
 * socket), ceiling (see above). Reading is "prompt" (read each socket as
 * soon as epoll says so) or "batch" (poll subscriber sockets only every
 * --batch-us, so the kernel coalesces several messages per read).
 *
 * Filters: --filters K gives subscriber i the uwrelay filter number i % K
 * (?filter=tickers:DIA,Fk;side:call;min_premium:k, k = 0..K-1): K
 * distinct filters that every frame of the template passes, so deliveries
 * and the gap/in-flight accounting are those of an unfiltered run and the
 * difference is the filters' cost (their evaluation reads ticker,
 * option_chain and total_premium of each frame). With --filters-disjoint
 * frame n carries ticker T<n % K> and filter k asks for ticker Tk, so each
 * frame goes to one subscriber in K: a skipped frame of another ticker is
 * not counted as a gap.
 *
 * Output: one JSON object on stdout; a one-line summary on stderr. The
 * target's CPU and memory come from /proc/PID of --pid (comma list: summed).
 * The tool's own CPU is getrusage() over the measured window. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define RBUF_SIZE (512 * 1024)
#define OUT_HIGH (256 * 1024)	/* stop building frames while this much waits */
#define MAX_EVENTS 4096
#define CHANNEL "flow-alerts"

/* ---------------------------------------------------------------- util */

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

	fprintf(stderr, "uwbench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(2);
}

static void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);

	if (!q && n)
		die("out of memory");
	return q;
}

static void
set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* ---------------------------------------------------------------- SHA-1, base64 (handshake) */

struct sha1 {
	uint32_t h[5];
	uint64_t len;
	uint8_t buf[64];
	size_t n;
};

static uint32_t rol(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

static void
sha1_block(struct sha1 *s, const uint8_t *p)
{
	uint32_t w[80], a, b, c, d, e, t;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];
	for (int i = 0; i < 80; i++) {
		uint32_t f, k;

		if (i < 20)
			f = (b & c) | (~b & d), k = 0x5A827999;
		else if (i < 40)
			f = b ^ c ^ d, k = 0x6ED9EBA1;
		else if (i < 60)
			f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
		else
			f = b ^ c ^ d, k = 0xCA62C1D6;
		t = rol(a, 5) + f + e + k + w[i];
		e = d, d = c, c = rol(b, 30), b = a, a = t;
	}
	s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d, s->h[4] += e;
}

static void
sha1_update(struct sha1 *s, const void *data, size_t len)
{
	const uint8_t *p = data;

	s->len += len;
	while (len) {
		size_t k = 64 - s->n < len ? 64 - s->n : len;

		memcpy(s->buf + s->n, p, k);
		s->n += k, p += k, len -= k;
		if (s->n == 64) {
			sha1_block(s, s->buf);
			s->n = 0;
		}
	}
}

static void
sha1(const void *data, size_t len, uint8_t out[20])
{
	struct sha1 s = { { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0 }, 0, { 0 }, 0 };
	uint64_t bits;
	uint8_t pad = 0x80, z = 0, lb[8];

	sha1_update(&s, data, len);
	bits = s.len * 8;
	sha1_update(&s, &pad, 1);
	while (s.n != 56)
		sha1_update(&s, &z, 1);
	for (int i = 0; i < 8; i++)
		lb[i] = (uint8_t)(bits >> (56 - 8 * i));
	sha1_update(&s, lb, 8);
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 4; j++)
			out[4 * i + j] = (uint8_t)(s.h[i] >> (24 - 8 * j));
}

static void
base64(const uint8_t *in, size_t n, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		*out++ = t[in[i] >> 2];
		*out++ = t[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		*out++ = t[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		*out++ = t[in[i + 2] & 63];
	}
	if (i < n) {
		*out++ = t[in[i] >> 2];
		if (i + 1 < n) {
			*out++ = t[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
			*out++ = t[(in[i + 1] & 15) << 2];
		} else {
			*out++ = t[(in[i] & 3) << 4];
			*out++ = '=';
		}
		*out++ = '=';
	}
	*out = '\0';
}

/* ---------------------------------------------------------------- latency histogram
 * Log-linear: exact below 128 ns, then 64 buckets per power of two (1.6 %). */

#define HIST_N (128 + 58 * 64)

struct hist {
	uint64_t b[HIST_N];
	uint64_t count, max, sum;
};

static unsigned
hist_idx(uint64_t v)
{
	int msb;

	if (v < 128)
		return (unsigned)v;
	msb = 63 - __builtin_clzll(v);
	return 128 + (unsigned)(msb - 7) * 64 + (unsigned)((v >> (msb - 6)) - 64);
}

static uint64_t
hist_val(unsigned i)
{
	unsigned o, s;

	if (i < 128)
		return i;
	o = (i - 128) / 64, s = (i - 128) % 64;
	/* middle of the bucket */
	return ((uint64_t)(64 + s) << (o + 1)) + ((uint64_t)1 << o);
}

static void
hist_add(struct hist *h, uint64_t v)
{
	h->b[hist_idx(v)]++;
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

static uint64_t
hist_pct(const struct hist *h, double p)
{
	uint64_t want, acc = 0;

	if (!h->count)
		return 0;
	want = (uint64_t)(p * (double)h->count);
	if (want >= h->count)
		want = h->count - 1;
	for (unsigned i = 0; i < HIST_N; i++) {
		acc += h->b[i];
		if (acc > want)
			return hist_val(i) < h->max ? hist_val(i) : h->max;
	}
	return h->max;
}

/* ---------------------------------------------------------------- WebSocket framing */

struct wsh {
	int fin, op, masked;
	uint64_t len;
	uint8_t mask[4];
	size_t hlen;
};

/* Parses a frame header; returns 0 if more bytes are needed. */
static int
ws_parse(const uint8_t *p, size_t n, struct wsh *h)
{
	size_t o = 2;

	if (n < 2)
		return 0;
	h->fin = p[0] >> 7;
	h->op = p[0] & 15;
	h->masked = p[1] >> 7;
	h->len = p[1] & 127;
	if (h->len == 126) {
		if (n < 4)
			return 0;
		h->len = (uint64_t)p[2] << 8 | p[3];
		o = 4;
	} else if (h->len == 127) {
		if (n < 10)
			return 0;
		h->len = 0;
		for (int i = 0; i < 8; i++)
			h->len = h->len << 8 | p[2 + i];
		o = 10;
	}
	if (h->masked) {
		if (n < o + 4)
			return 0;
		memcpy(h->mask, p + o, 4);
		o += 4;
	}
	h->hlen = o;
	return 1;
}

/* Writes a header for a final frame of opcode op and length len; masked
 * frames (client to server) use the all-zero key, which leaves the payload
 * unchanged. Returns the header length (at most 14). */
static size_t
ws_header(uint8_t *p, int op, size_t len, int masked)
{
	size_t o;

	p[0] = (uint8_t)(0x80 | op);
	if (len < 126) {
		p[1] = (uint8_t)len;
		o = 2;
	} else if (len < 65536) {
		p[1] = 126;
		p[2] = (uint8_t)(len >> 8);
		p[3] = (uint8_t)len;
		o = 4;
	} else {
		p[1] = 127;
		for (int i = 0; i < 8; i++)
			p[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
		o = 10;
	}
	if (masked) {
		p[1] |= 0x80;
		memset(p + o, 0, 4);
		o += 4;
	}
	return o;
}

/* ---------------------------------------------------------------- options */

enum mode { M_MAX, M_RATE, M_IDLE, M_CEILING };
enum target { T_UW, T_PUB, T_NONE };

static struct opts {
	enum mode mode;
	enum target target;
	int listen_port;
	char pub_host[64], sub_host[64];
	int pub_port, sub_port;
	char pub_path[256], sub_path[256];
	int subs;
	int size;
	int inflight;
	double rate;
	double duration, warmup, drain, settle;
	int batch_read;
	int batch_us;
	char pids[256];
	char pid_file[256];
	int ready_notice;
	int src_ips;
	int per_ip;
	int ceil_batch;
	int writer_cpu;
	int ack_once;
	int concurrency;
	double timeout;
	double stall;
	char label[128];
	int filters;		/* uwrelay ?filter=: K distinct ones, 0 = none */
	int filters_disjoint;	/* each frame passes one of the K (ticker T<n % K>) */
	int sub_proto;		/* P_WS, P_SSE or P_DEFLATE: how subscribers subscribe */
} o = {
	.mode = M_MAX, .target = T_UW, .listen_port = 0, .subs = 1, .size = 1024, .inflight = 128,
	.rate = 100, .duration = 5, .warmup = 1, .drain = 3, .settle = 0.3, .batch_read = 0,
	.batch_us = 500, .ready_notice = -1, .src_ips = 0, .per_ip = 20000, .ceil_batch = 1,
	.writer_cpu = 0, .concurrency = 256, .timeout = 120, .stall = 0.5,
};

/* Subscribers: plain WebSocket, Server-Sent Events on the same path (the
 * relay's /api/stream/ws/X is /api/stream/sse/X), or WebSocket offering
 * permessage-deflate (each compressed message is inflated just far enough
 * to read "n" and "t": the tool's cost stays close to the plain case). */
enum { P_WS = 0, P_SSE, P_DEFLATE };

static int
parse_ws_url(const char *u, char *host, int *port, char *path)
{
	const char *p, *s;

	if (!strncmp(u, "ws://", 5))
		p = u + 5;
	else if (!strncmp(u, "http://", 7))	/* an SSE subscriber's URL */
		p = u + 7;
	else
		return -1;
	s = strchr(p, ':');
	if (!s || (size_t)(s - p) >= 64)
		return -1;
	memcpy(host, p, (size_t)(s - p));
	host[s - p] = '\0';
	*port = atoi(s + 1);
	s = strchr(s, '/');
	snprintf(path, 256, "%s", s ? s : "/");
	/* loopback only */
	if (strncmp(host, "127.", 4))
		die("only 127.0.0.0/8 targets are allowed (%s)", host);
	return *port > 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- connections */

enum ctype { C_LISTEN, C_UP, C_PUB, C_SUB, C_TIMER, C_SUBEP };
enum cstate { S_CONNECTING, S_HS, S_OPEN, S_CLOSED };

struct conn {
	int fd;
	uint8_t type, state, ready, want_out;
	uint16_t close_code;
	uint8_t *in;
	uint32_t in_len, in_cap;
	uint8_t *out;
	size_t out_len, out_off, out_cap;
	uint64_t last_n;	/* highest counter seen (subs) */
	uint64_t t_connect;
};

static int ep_main = -1, ep_subs = -1;
static uint8_t *rbuf;
static struct conn *subs;	/* array of o.subs */
static struct conn *up_conns[64];
static int n_up;
static struct conn *sender;	/* where data frames go (uw: last joiner; pub: publisher) */
static struct conn c_listen, c_timer, c_subep, c_pub;
static volatile sig_atomic_t timed_out;

/* counters */
static struct {
	uint64_t sent, acked, delivered_total, delivered_window, other_msgs, foreign, pub_replies;
	uint64_t gaps, dups, stalls, joins, joins_unacked, leaves, acks_sent, pings;
	uint64_t connect_fail, hs_fail, closed, closed_codes[8];
	uint16_t close_code_list[8];
	int n_close_codes;
	int n_open, n_ready, n_connecting, next_open;
	int active;		/* subscribers counted for the in-flight bound */
	int measuring, finished;
	uint64_t t_send_start, t_last_progress;
	struct hist lat;
	uint64_t sub_bytes_window;	/* bytes subscribers read while measuring (wire bytes) */
} st;

static uint32_t *slot_cnt;	/* in-flight accounting: receivers per counter, ring of o.inflight */

static void
ep_add(int ep, struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e))
		die("epoll_ctl add: %s", strerror(errno));
}

static void
ep_mod(int ep, struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

static int
conn_ep(struct conn *c)
{
	return c->type == C_SUB ? ep_subs : ep_main;
}

static void
conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				c->out_off = c->out_len = 0;	/* dead: drop */
			break;
		}
		c->out_off += (size_t)w;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	else if (c->out_off > (1 << 20)) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if ((c->out_len != 0) != c->want_out && c->state != S_CLOSED) {
		c->want_out = c->out_len != 0;
		ep_mod(conn_ep(c), c, EPOLLIN | (c->want_out ? EPOLLOUT : 0));
	}
}

static uint8_t *
conn_reserve(struct conn *c, size_t n)
{
	if (c->out_len + n > c->out_cap) {
		size_t nc = c->out_cap ? c->out_cap : 4096;

		while (nc < c->out_len + n)
			nc *= 2;
		c->out = xrealloc(c->out, nc);
		c->out_cap = nc;
	}
	return c->out + c->out_len;
}

static void
conn_queue(struct conn *c, const void *p, size_t n)
{
	memcpy(conn_reserve(c, n), p, n);
	c->out_len += n;
}

static void
conn_send_frame(struct conn *c, int op, const void *p, size_t n, int masked)
{
	uint8_t h[14];
	size_t hl = ws_header(h, op, n, masked);

	conn_queue(c, h, hl);
	conn_queue(c, p, n);
	conn_flush(c);
}

/* ---------------------------------------------------------------- frames sent */

static char *msg_tmpl;		/* what subscribers get / the upstream frame body */
static size_t msg_len, n_off, t_off, tk_off;
static uint8_t wire_hdr[14];
static size_t wire_hdr_len;

static void
fmt_fixed(char *dst, uint64_t v, int width)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < width);
	for (int i = 0; i < n; i++)
		dst[i] = tmp[n - 1 - i];
	for (int i = n; i < width; i++)
		dst[i] = ' ';
}

/* A flow alert padded to the target size. The counter and send time come
 * first, as fixed-width numbers followed by blanks (valid JSON), so each
 * frame is the template with two fields patched. Then fields of UW's
 * example flow alert while they fit, then trade ids, then a filler string
 * to the exact size. */
static void
build_template(void)
{
	static const char *fields[] = {
		"\"rule_id\":\"5ce5ec11-087c-4c00-b164-08106b015856\"",
		"\"rule_name\":\"RepeatedHitsDescendingFill\"", "\"ticker\":\"DIA\"",
		"\"option_chain\":\"DIA241018C00415000\"", "\"underlying_price\":415.981", "\"volume\":106",
		"\"total_size\":50", "\"total_premium\":36466", "\"total_ask_side_prem\":36466",
		"\"total_bid_side_prem\":0", "\"start_time\":1726670212648", "\"end_time\":1726670212748",
		"\"url\":\"\"", "\"price\":7.3", "\"has_multileg\":false", "\"has_sweep\":false",
		"\"has_floor\":false", "\"open_interest\":575", "\"all_opening_trades\":false",
		"\"id\":\"29ed5829-e4ce-4934-876b-51985d2f9b70\"", "\"has_singleleg\":true",
		"\"volume_oi_ratio\":0", "\"trade_count\":7", "\"expiry_count\":1",
		"\"executed_at\":1726670212748", "\"ask_vol\":52", "\"bid_vol\":49", "\"no_side_vol\":0",
		"\"mid_vol\":5", "\"multi_vol\":0", "\"stock_multi_vol\":0",
		"\"upstream_condition_details\":[\"auto\",\"slan\"]", "\"exchanges\":[\"XCBO\",\"MPRL\"]",
		"\"bid\":\"7.15\"", "\"ask\":\"7.3\"",
	};
	char *pl = malloc((size_t)o.size + 4096), *m;
	size_t target, l, pre, post;
	int nf = (int)(sizeof(fields) / sizeof(fields[0]));
	const char *env_head =
		"{\"channel\":\"" CHANNEL "\",\"seq\":1,\"epoch\":\"0123456789abcdef\","
		"\"timestamp\":\"2026-11-25T14:30:00.123Z\",\"data\":";

	/* the upstream frame is ["flow-alerts",PAYLOAD]: size it to o.size */
	pre = strlen("[\"" CHANNEL "\",");
	post = 1;
	target = (size_t)o.size > pre + post + 80 ? (size_t)o.size - pre - post : 80;
	l = (size_t)sprintf(pl, "{\"n\":%-12s,\"t\":%-20s", "0", "0");
	for (int i = 0; i < nf; i++) {
		size_t fl = strlen(fields[i]);

		if (l + 1 + fl + 12 > target)
			break;
		pl[l++] = ',';
		memcpy(pl + l, fields[i], fl);
		l += fl;
	}
	if (l + 30 + 12 < target) {
		l += (size_t)sprintf(pl + l, ",\"trade_ids\":[");
		for (int k = 0; l + 39 + 2 + 12 < target; k++)
			l += (size_t)sprintf(pl + l, "%s\"%08x-09ae-4d43-8542-38557bb713aa\"", k ? "," : "", 0x417f0cd6u + (unsigned)k);
		pl[l++] = ']';
	}
	if (l + 8 <= target) {
		size_t fill = target - l - 8;

		l += (size_t)sprintf(pl + l, ",\"x\":\"");
		memset(pl + l, 'x', fill);
		l += fill;
		pl[l++] = '"';
	}
	pl[l++] = '}';
	pl[l] = '\0';

	m = malloc(l + 512);
	if (o.mode == M_CEILING || o.target == T_PUB)
		msg_len = (size_t)sprintf(m, "%s%s}", env_head, pl);	/* what uwrelay would deliver */
	else
		msg_len = (size_t)sprintf(m, "[\"" CHANNEL "\",%s]", pl);
	msg_tmpl = m;
	n_off = (size_t)(strstr(m, "\"n\":") - m) + 4;
	t_off = (size_t)(strstr(m, "\"t\":") - m) + 4;
	tk_off = strstr(m, "\"ticker\":\"DIA\"") ? (size_t)(strstr(m, "\"ticker\":\"DIA\"") - m) + 10 : 0;
	if (o.filters_disjoint && (!tk_off || o.filters > 100))
		die("--filters-disjoint needs --size large enough for the ticker and --filters <= 100");
	wire_hdr_len = ws_header(wire_hdr, 1, msg_len, o.target == T_PUB && o.mode != M_CEILING);
	free(pl);
}

/* Appends one data frame numbered n, stamped now, to buffer b. */
static size_t
put_frame(uint8_t *b, uint64_t n)
{
	memcpy(b, wire_hdr, wire_hdr_len);
	memcpy(b + wire_hdr_len, msg_tmpl, msg_len);
	fmt_fixed((char *)b + wire_hdr_len + n_off, n, 12);
	fmt_fixed((char *)b + wire_hdr_len + t_off, now_ns(), 20);
	if (o.filters_disjoint) {
		char *tk = (char *)b + wire_hdr_len + tk_off;
		unsigned k = (unsigned)(n % (uint64_t)o.filters);

		tk[0] = 'T';
		tk[1] = (char)('0' + k / 10);
		tk[2] = (char)('0' + k % 10);
	}
	return wire_hdr_len + msg_len;
}

/* ---------------------------------------------------------------- in-flight accounting */

static void
advance_acked(void)
{
	uint64_t k = (uint64_t)o.inflight;

	while (st.acked < st.sent && slot_cnt[(st.acked + 1) % k] >= (uint32_t)st.active) {
		slot_cnt[(st.acked + 1) % k] = 0;
		st.acked++;
		st.t_last_progress = now_ns();
	}
}

/* Subscriber c accounts for every counter up to n (received or skipped). */
static void
account(struct conn *c, uint64_t n)
{
	uint64_t k = (uint64_t)o.inflight, from = c->last_n + 1;

	if (from <= st.acked)
		from = st.acked + 1;
	if (n > st.sent) {
		/* ceiling: the writer publishes its count after the send */
		if (o.mode == M_CEILING)
			st.sent = n;
		else
			n = st.sent;
	}
	for (uint64_t i = from; i <= n; i++)
		slot_cnt[i % k]++;
}

/* ---------------------------------------------------------------- subscribers */

static void
sub_closed(struct conn *c, uint16_t code)
{
	if (c->state == S_CLOSED)
		return;
	if (c->state == S_CONNECTING || c->state == S_HS) {
		st.n_connecting--;
		if (c->state == S_CONNECTING)
			st.connect_fail++;
		else
			st.hs_fail++;
	} else if (st.finished) {
		st.n_open--;
	} else {
		st.n_open--;
		st.closed++;
		if (c->ready) {
			st.n_ready--;
			/* a dead subscriber must not hold the sender back */
			account(c, st.sent);
			c->last_n = st.sent;
			st.active--;
		}
		{
			int i;

			for (i = 0; i < st.n_close_codes; i++)
				if (st.close_code_list[i] == code)
					break;
			if (i == st.n_close_codes && i < 8)
				st.close_code_list[st.n_close_codes++] = code;
			if (i < 8)
				st.closed_codes[i]++;
		}
	}
	c->close_code = code;
	c->state = S_CLOSED;
	epoll_ctl(ep_subs, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	free(c->in);
	c->in = NULL;
	c->in_len = c->in_cap = 0;
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_cap = c->out_off = 0;
}

static void
sub_ready(struct conn *c)
{
	if (c->ready)
		return;
	c->ready = 1;
	st.n_ready++;
	st.active++;
	/* joining after frames went out: those are not this one's to receive */
	c->last_n = st.sent;
}

static inline const uint8_t *
find_key(const uint8_t *p, const uint8_t *end, char key)
{
	/* looks for "K": (FastAPI's json.dumps writes "K": with a blank after) */
	while (p + 4 <= end) {
		const uint8_t *q = memchr(p, '"', (size_t)(end - p));

		if (!q || q + 4 > end)
			return NULL;
		if (q[1] == (uint8_t)key && q[2] == '"' && q[3] == ':')
			return q + 4;
		p = q + 1;
	}
	return NULL;
}

static inline const uint8_t *
read_num(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;

	while (p < end && *p == ' ')
		p++;
	if (p >= end || *p < '0' || *p > '9')
		return NULL;
	while (p < end && *p >= '0' && *p <= '9')
		x = x * 10 + (uint64_t)(*p++ - '0');
	*v = x;
	return p;
}

static void
sub_message(struct conn *c, const uint8_t *p, size_t len, uint64_t t_rx)
{
	const uint8_t *end = p + (len > 600 ? 600 : len), *q;
	uint64_t n, t;

	q = find_key(p, end, 'n');
	if (!q || !(q = read_num(q, end, &n))) {
		st.other_msgs++;
		if (o.ready_notice && !c->ready)
			sub_ready(c);
		return;
	}
	q = find_key(q, end, 't');
	if (!q || !read_num(q, end, &t))
		t = 0;
	if (!c->ready)
		sub_ready(c);
	if (n > st.sent && o.mode != M_CEILING) {
		/* not one of ours: a message the target kept from before */
		st.foreign++;
		return;
	}
	st.delivered_total++;
	if (st.measuring) {
		st.delivered_window++;
		if (t && t_rx > t)
			hist_add(&st.lat, t_rx - t);
	}
	if (n <= c->last_n) {
		st.dups++;
		return;
	}
	if (o.filters_disjoint) {
		/* only the frames of its own ticker (n % K == k) were this
		 * one's: count those in (last_n, n), as frames of residue k
		 * in [0, n - 1] less those in [0, last_n] */
		uint64_t K = (uint64_t)o.filters, k = (uint64_t)(c - subs) % K;
		uint64_t below = n >= 1 && n - 1 >= k ? (n - 1 - k) / K + 1 : 0;
		uint64_t upto_last = c->last_n >= k ? (c->last_n - k) / K + 1 : 0;

		if (below > upto_last)
			st.gaps += below - upto_last;
	} else if (n > c->last_n + 1)
		st.gaps += n - c->last_n - 1;
	account(c, n);
	c->last_n = n;
}

static void
sub_open(int i)
{
	struct conn *c = &subs[i];
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	c->fd = fd;
	c->type = C_SUB;
	c->state = S_CONNECTING;
	c->t_connect = now_ns();
	st.n_connecting++;
	if (fd < 0) {
		c->state = S_CLOSED;
		st.n_connecting--;
		st.connect_fail++;
		return;
	}
	if (o.src_ips > 0) {
		/* 127.0.0.2, .3, ...: o.per_ip sockets each */
		struct sockaddr_in src = { .sin_family = AF_INET };
		int k = i / o.per_ip;

		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(k % o.src_ips));
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)))
			die("bind 127.0.0.%d: %s", 2 + k % o.src_ips, strerror(errno));
	}
	sa.sin_port = htons((uint16_t)o.sub_port);
	inet_pton(AF_INET, o.sub_host, &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS) {
		close(fd);
		c->fd = -1;
		c->state = S_CLOSED;
		st.n_connecting--;
		st.connect_fail++;
		return;
	}
	ep_add(ep_subs, c, EPOLLOUT | EPOLLIN);
	c->want_out = 1;
}

static void
sub_connected(struct conn *c)
{
	int err = 0;
	socklen_t l = sizeof(err);
	char req[768], fpath[384];
	int n;

	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
	if (err) {
		sub_closed(c, 0);
		return;
	}
	if (o.mode == M_CEILING) {
		c->state = S_OPEN;
		st.n_connecting--;
		st.n_open++;
		c->want_out = 0;
		ep_mod(ep_subs, c, EPOLLIN);
		return;
	}
	c->state = S_HS;
	if (o.filters > 0) {
		/* every one passes the template's flow alert (DIA, a call, $36,466) */
		int k = (int)(c - subs) % o.filters;

		if (o.filters_disjoint)
			snprintf(fpath, sizeof(fpath), "%s%cfilter=tickers:T%02d;side:call;min_premium:%d",
				 o.sub_path, strchr(o.sub_path, '?') ? '&' : '?', k, k);
		else
			snprintf(fpath, sizeof(fpath), "%s%cfilter=tickers:DIA,F%d;side:call;min_premium:%d",
				 o.sub_path, strchr(o.sub_path, '?') ? '&' : '?', k, k);
	} else
		snprintf(fpath, sizeof(fpath), "%s", o.sub_path);
	if (o.sub_proto == P_SSE)
		n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n\r\n",
			     fpath, o.sub_host, o.sub_port);
	else
		n = snprintf(req, sizeof(req),
			     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
			     fpath, o.sub_host, o.sub_port,
			     o.sub_proto == P_DEFLATE ?
			     "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" : "");
	c->want_out = 0;
	ep_mod(ep_subs, c, EPOLLIN);
	conn_queue(c, req, (size_t)n);
	conn_flush(c);
}

/* Server-Sent Events in rbuf[off..have): each complete event's data goes
 * to sub_message; comments (heartbeats) are skipped. Returns where the
 * first incomplete event starts. */
static size_t
sse_events(struct conn *c, size_t off, size_t have, uint64_t t)
{
	for (;;) {
		uint8_t *e = memmem(rbuf + off, have - off, "\n\n", 2), *d;

		if (!e)
			return off;
		if (!memcmp(rbuf + off, "data: ", 6))
			d = rbuf + off + 6;
		else {
			d = memmem(rbuf + off, (size_t)(e - rbuf) - off, "\ndata: ", 7);
			d = d ? d + 7 : NULL;
		}
		if (d && d < e)
			sub_message(c, d, (size_t)(e - d), t);
		off = (size_t)(e - rbuf) + 2;
	}
}

/* A compressed (RSV1) message: inflated into its first 256 bytes, which
 * hold "n" and "t" (the envelope's head, then the payload's first fields),
 * so the tool's own cost per delivery stays near the plain case's. One inflater for all:
 * the relay compresses each message on its own (no context takeover). */
static void
inflated_message(struct conn *c, const uint8_t *p, size_t len, uint64_t t)
{
	static z_stream zs;
	static int ready;
	static uint8_t out[256];

	if (!ready) {
		if (inflateInit2(&zs, -15) != Z_OK)
			die("inflateInit2");
		ready = 1;
	} else
		inflateReset(&zs);
	zs.next_in = (Bytef *)(uintptr_t)p;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = sizeof(out);
	inflate(&zs, Z_SYNC_FLUSH);
	sub_message(c, out, sizeof(out) - zs.avail_out, t);
}

static void
sub_read(struct conn *c)
{
	size_t have = 0, off = 0;
	ssize_t r;
	uint64_t t;

	if (c->in_len) {
		memcpy(rbuf, c->in, c->in_len);
		have = c->in_len;
		c->in_len = 0;
	}
	r = read(c->fd, rbuf + have, RBUF_SIZE - have);
	if (r <= 0) {
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			c->in_len = (uint32_t)have;	/* nothing lost: still in c->in */
			return;
		}
		sub_closed(c, 1006);
		return;
	}
	have += (size_t)r;
	if (st.measuring)
		st.sub_bytes_window += (uint64_t)r;
	t = now_ns();
	if (c->state == S_HS) {
		uint8_t *e = memmem(rbuf, have, "\r\n\r\n", 4);

		if (!e)
			goto keep;
		if (have < 12 || memcmp(rbuf + 9, o.sub_proto == P_SSE ? "200" : "101", 3)) {
			sub_closed(c, 0);
			return;
		}
		c->state = S_OPEN;
		st.n_connecting--;
		st.n_open++;
		if (!o.ready_notice)
			sub_ready(c);
		off = (size_t)(e - rbuf) + 4;
	}
	if (o.sub_proto == P_SSE) {
		off = sse_events(c, off, have, t);
		goto keep;
	}
	while (off < have) {
		struct wsh h;

		if (!ws_parse(rbuf + off, have - off, &h) || off + h.hlen + h.len > have)
			break;
		off += h.hlen;
		switch (h.op) {
		case 1:	/* text */
		case 2:
			if (rbuf[off - h.hlen] & 0x40)
				inflated_message(c, rbuf + off, (size_t)h.len, t);
			else
				sub_message(c, rbuf + off, (size_t)h.len, t);
			break;
		case 8: {	/* close */
			uint16_t code = h.len >= 2 ? (uint16_t)(rbuf[off] << 8 | rbuf[off + 1]) : 1005;

			sub_closed(c, code);
			return;
		}
		case 9:	/* ping */
			st.pings++;
			conn_send_frame(c, 10, rbuf + off, (size_t)h.len, 1);
			break;
		default:	/* continuation, pong */
			break;
		}
		off += h.len;
	}
keep:
	if (have - off == RBUF_SIZE)
		die("a message larger than the read buffer");
	if (have > off) {
		size_t rest = have - off;

		if (rest > c->in_cap) {
			c->in_cap = (uint32_t)(rest < 256 ? 256 : rest);
			c->in = xrealloc(c->in, c->in_cap);
		}
		memcpy(c->in, rbuf + off, rest);
		c->in_len = (uint32_t)rest;
	}
}

static void
sub_event(struct conn *c, uint32_t ev)
{
	if (c->state == S_CLOSED)
		return;
	if (c->state == S_CONNECTING) {
		if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			sub_connected(c);
		return;
	}
	if (ev & EPOLLIN)
		sub_read(c);
	else if (ev & (EPOLLERR | EPOLLHUP)) {
		sub_closed(c, 1006);
		return;
	}
	if (c->state != S_CLOSED && (ev & EPOLLOUT))
		conn_flush(c);
}

static void
poll_subs(int timeout_ms)
{
	static struct epoll_event ev[MAX_EVENTS];
	int n = epoll_wait(ep_subs, ev, MAX_EVENTS, timeout_ms);

	for (int i = 0; i < n; i++)
		sub_event(ev[i].data.ptr, ev[i].events);
}

/* ---------------------------------------------------------------- upstream side (UW server) */

static void
up_close(struct conn *c)
{
	if (c->state == S_CLOSED)
		return;
	c->state = S_CLOSED;
	epoll_ctl(ep_main, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (sender == c)
		sender = NULL;
}

static void
up_text(struct conn *c, const uint8_t *p, size_t len)
{
	char chan[128] = "", buf[256];
	const char *s = memmem(p, len, "\"channel\"", 9), *e;
	int join = memmem(p, len, "\"join\"", 6) != NULL;
	int n;

	if (!s)
		return;
	s = memchr(s + 9, '"', len - (size_t)(s + 9 - (const char *)p));
	if (!s)
		return;
	e = memchr(s + 1, '"', len - (size_t)(s + 1 - (const char *)p));
	if (!e || e - s - 1 >= (long)sizeof(chan))
		return;
	memcpy(chan, s + 1, (size_t)(e - s - 1));
	chan[e - s - 1] = '\0';
	if (!join) {
		st.leaves++;
		return;
	}
	st.joins++;
	if (o.ack_once && c->ready) {
		/* the plan re-joins for every browser: UW would ack each, and the
		 * plan broadcasts each ack to every browser (N^2/2 sends) */
		st.joins_unacked++;
		return;
	}
	c->ready = 1;
	n = snprintf(buf, sizeof(buf), "[\"%s\",{\"response\":{},\"status\":\"ok\"}]", chan);
	conn_send_frame(c, 1, buf, (size_t)n, 0);
	st.acks_sent++;
	if (!strcmp(chan, CHANNEL))
		sender = c;
}

static void
up_read(struct conn *c)
{
	uint8_t *b = rbuf;
	size_t have = 0, off = 0;
	ssize_t r;

	if (c->in_len) {
		memcpy(b, c->in, c->in_len);
		have = c->in_len;
		c->in_len = 0;
	}
	r = read(c->fd, b + have, RBUF_SIZE - have);
	if (r <= 0) {
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			c->in_len = (uint32_t)have;
			return;
		}
		up_close(c);
		return;
	}
	have += (size_t)r;
	if (c->state == S_HS) {
		uint8_t *e = memmem(b, have, "\r\n\r\n", 4);
		char key[128] = "", acc[64], resp[256];
		uint8_t dig[20];
		const char *k;
		int n;

		if (!e)
			goto keep;
		*e = '\0';
		k = strcasestr((char *)b, "\r\nSec-WebSocket-Key:");
		if (k) {
			k += 20;
			while (*k == ' ')
				k++;
			n = (int)strcspn(k, "\r\n ");
			if (n > 60)
				n = 60;
			snprintf(key, sizeof(key), "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", n, k);
		}
		if (!k || strncmp((char *)b, "GET /socket", 11)) {
			static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

			if (write(c->fd, nf, sizeof(nf) - 1) < 0) {
				/* closing anyway */
			}
			up_close(c);
			return;
		}
		sha1(key, strlen(key), dig);
		base64(dig, 20, acc);
		n = snprintf(resp, sizeof(resp),
			     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			     "Sec-WebSocket-Accept: %s\r\n\r\n", acc);
		conn_queue(c, resp, (size_t)n);
		conn_flush(c);
		c->state = S_OPEN;
		off = (size_t)(e - b) + 4;
	}
	while (off < have) {
		struct wsh h;
		uint8_t *pl;

		if (!ws_parse(b + off, have - off, &h) || off + h.hlen + h.len > have)
			break;
		off += h.hlen;
		pl = b + off;
		if (h.masked)
			for (uint64_t i = 0; i < h.len; i++)
				pl[i] ^= h.mask[i & 3];
		if (h.op == 1 && c->type == C_PUB)
			st.pub_replies++;	/* nchan answers each publish */
		else if (h.op == 1)
			up_text(c, pl, (size_t)h.len);
		else if (h.op == 9)
			conn_send_frame(c, 10, pl, (size_t)h.len, c->type == C_PUB);
		else if (h.op == 8) {
			if (c->type == C_UP)
				conn_send_frame(c, 8, pl, h.len >= 2 ? 2 : 0, 0);
			up_close(c);
			return;
		}
		off += h.len;
	}
keep:
	if (have > off) {
		size_t rest = have - off;

		if (rest > c->in_cap) {
			c->in_cap = (uint32_t)rest;
			c->in = xrealloc(c->in, c->in_cap);
		}
		memcpy(c->in, b + off, rest);
		c->in_len = (uint32_t)rest;
	}
}

static void
listen_accept(void)
{
	for (;;) {
		int fd = accept4(c_listen.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		struct conn *c;

		if (fd < 0)
			return;
		if (n_up == (int)(sizeof(up_conns) / sizeof(up_conns[0]))) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		c->fd = fd;
		c->type = C_UP;
		c->state = S_HS;
		up_conns[n_up++] = c;
		ep_add(ep_main, c, EPOLLIN);
	}
}

/* Publisher: a WebSocket client of the peer's publish endpoint. */
static void
pub_connect(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o.pub_port) };
	int one = 1;
	char req[512];
	int n;
	uint64_t t0 = now_ns();

	inet_pton(AF_INET, o.pub_host, &sa.sin_addr);
	for (;;) {
		c_pub.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (!connect(c_pub.fd, (struct sockaddr *)&sa, sizeof(sa)))
			break;
		close(c_pub.fd);
		if (now_ns() - t0 > 10000000000ull)
			die("cannot connect to the publisher %s:%d: %s", o.pub_host, o.pub_port, strerror(errno));
		usleep(50000);
	}
	setsockopt(c_pub.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		     o.pub_path, o.pub_host, o.pub_port);
	if (write(c_pub.fd, req, (size_t)n) != n)
		die("publisher handshake write failed");
	{
		char resp[4096];
		size_t have = 0;

		while (!memmem(resp, have, "\r\n\r\n", 4)) {
			ssize_t r = read(c_pub.fd, resp + have, sizeof(resp) - have);

			if (r <= 0 || have + (size_t)r >= sizeof(resp))
				die("publisher handshake failed");
			have += (size_t)r;
		}
		if (memcmp(resp + 9, "101", 3))
			die("publisher refused the upgrade: %.40s", resp);
		/* anything after the header would be a frame: none expected yet */
	}
	set_nonblock(c_pub.fd);
	c_pub.type = C_PUB;
	c_pub.state = S_OPEN;
	ep_add(ep_main, &c_pub, EPOLLIN);
	sender = &c_pub;
}

/* ---------------------------------------------------------------- sending */

static void
send_frames(uint64_t count)
{
	uint8_t *b;

	if (!sender || !count)
		return;
	b = conn_reserve(sender, count * (wire_hdr_len + msg_len));
	for (uint64_t i = 0; i < count; i++)
		b += put_frame(b, ++st.sent);
	sender->out_len += count * (wire_hdr_len + msg_len);
	conn_flush(sender);
}

static void
fill_max(void)
{
	uint64_t room, fit;

	if (!sender || sender->state != S_OPEN)
		return;
	if (st.sent == st.acked)
		st.t_last_progress = now_ns();
	room = (uint64_t)o.inflight - (st.sent - st.acked);
	if (!room || sender->out_len - sender->out_off >= OUT_HIGH)
		return;
	fit = (OUT_HIGH - (sender->out_len - sender->out_off)) / (wire_hdr_len + msg_len) + 1;
	send_frames(room < fit ? room : fit);
}

/* ---------------------------------------------------------------- ceiling writer */

struct shared {
	_Atomic uint64_t acked, sent;
	_Atomic uint32_t fseq;	/* futex word: bumped when acked moves */
	_Atomic int waiting, pause, stop, go;
	double cpu_s;
};
static struct shared *shm;
static void open_more_subs(void);
static uint64_t sec_ns(double s);

static void
ceiling_writer(int *fds, int nfds)
{
	cpu_set_t cs;
	size_t fl = wire_hdr_len + msg_len;
	uint8_t *buf = malloc(fl * (size_t)o.ceil_batch);
	uint64_t sent = 0;
	struct rusage ru;

	CPU_ZERO(&cs);
	CPU_SET(o.writer_cpu, &cs);
	sched_setaffinity(0, sizeof(cs), &cs);
	while (!atomic_load(&shm->stop)) {
		uint64_t a = atomic_load(&shm->acked), nb = (uint64_t)o.ceil_batch;
		size_t len = 0;

		if (sent - a >= (uint64_t)o.inflight || atomic_load(&shm->pause)) {
			/* window full: sleep until the reader acknowledges */
			uint32_t seq = atomic_load(&shm->fseq);
			struct timespec ts = { 0, 10000000 };

			atomic_store(&shm->waiting, 1);
			if (sent - atomic_load(&shm->acked) >= (uint64_t)o.inflight && !atomic_load(&shm->stop))
				syscall(SYS_futex, &shm->fseq, FUTEX_WAIT, seq, &ts, NULL, 0);
			continue;
		}
		if (nb > (uint64_t)o.inflight - (sent - a))
			nb = (uint64_t)o.inflight - (sent - a);
		for (uint64_t i = 0; i < nb; i++)
			len += put_frame(buf + len, sent + 1 + i);
		/* every subscriber gets the same bytes: one send() each */
		for (int i = 0; i < nfds && !atomic_load(&shm->stop); i++) {
			size_t off = 0;

			while (off < len) {
				ssize_t w = send(fds[i], buf + off, len - off, MSG_NOSIGNAL);

				if (w <= 0) {
					if (w < 0 && errno == EINTR)
						continue;
					goto out;
				}
				off += (size_t)w;
			}
		}
		sent += nb;
		atomic_store(&shm->sent, sent);
	}
out:
	getrusage(RUSAGE_SELF, &ru);
	shm->cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
		     ru.ru_stime.tv_usec / 1e6;
	_exit(0);
}

/* Forks the writer, which listens and accepts (so each process holds one
 * end of every connection: 10,000 subscribers need 10,000 fds in each),
 * then connects every subscriber to it. */
static pid_t
ceiling_setup(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;
	uint64_t deadline;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 4096))
		die("ceiling listener: %s", strerror(errno));
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	snprintf(o.sub_host, sizeof(o.sub_host), "127.0.0.1");
	o.sub_port = ntohs(sa.sin_port);
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	memset(shm, 0, sizeof(*shm));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (!pid) {
		int *fds = calloc((size_t)o.subs, sizeof(int)), n = 0;

		close(ep_main);
		close(ep_subs);
		while (n < o.subs && !atomic_load(&shm->stop)) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (fd < 0) {
				if (errno == EINTR)
					continue;
				_exit(1);
			}
			/* as a relay would: no Nagle delay on small frames */
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
			fds[n++] = fd;
		}
		close(lfd);
		/* wait for the go (or stop) */
		while (!atomic_load(&shm->go) && !atomic_load(&shm->stop)) {
			uint32_t seq = atomic_load(&shm->fseq);
			struct timespec ts = { 0, 50000000 };

			if (!atomic_load(&shm->go))
				syscall(SYS_futex, &shm->fseq, FUTEX_WAIT, seq, &ts, NULL, 0);
		}
		ceiling_writer(fds, n);
	}
	close(lfd);
	deadline = now_ns() + sec_ns(o.timeout * 0.6);
	while (!timed_out && now_ns() < deadline && (st.next_open < o.subs || st.n_connecting)) {
		open_more_subs();
		poll_subs(20);
	}
	for (int i = 0; i < o.subs; i++)
		if (subs[i].state == S_OPEN)
			sub_ready(&subs[i]);
	atomic_store(&shm->go, 1);
	atomic_fetch_add(&shm->fseq, 1);
	syscall(SYS_futex, &shm->fseq, FUTEX_WAKE, 1, NULL, NULL, 0);
	return pid;
}

/* ---------------------------------------------------------------- target /proc readings */

struct procinfo {
	double cpu_s, wait_s;	/* on CPU; runnable but waiting for one (schedstat) */
	long rss_kib, hwm_kib;
	int ok;
};

static struct procinfo
proc_read(void)
{
	struct procinfo pi = { 0, 0, 0, 0, 0 };
	char list[256], *save = NULL, *tok;
	long tck = sysconf(_SC_CLK_TCK);

	snprintf(list, sizeof(list), "%s", o.pids);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char path[64], buf[4096], *p;
		FILE *f;
		size_t n;

		snprintf(path, sizeof(path), "/proc/%s/stat", tok);
		f = fopen(path, "r");
		if (!f)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		p = strrchr(buf, ')');
		if (p) {
			unsigned long ut = 0, stt = 0;

			if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stt) == 2)
				pi.cpu_s += (double)(ut + stt) / (double)tck;
		}
		snprintf(path, sizeof(path), "/proc/%s/schedstat", tok);
		f = fopen(path, "r");
		if (f) {
			unsigned long long run = 0, wait = 0;

			if (fscanf(f, "%llu %llu", &run, &wait) == 2)
				pi.wait_s += (double)wait / 1e9;
			fclose(f);
		}
		snprintf(path, sizeof(path), "/proc/%s/status", tok);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(buf, sizeof(buf), f)) {
			long v;

			if (sscanf(buf, "VmRSS: %ld", &v) == 1)
				pi.rss_kib += v;
			else if (sscanf(buf, "VmHWM: %ld", &v) == 1)
				pi.hwm_kib += v;
		}
		fclose(f);
		pi.ok = 1;
	}
	return pi;
}

/* Seconds this process spent runnable but waiting for a CPU. */
static double
self_wait(void)
{
	unsigned long long run = 0, wait = 0;
	FILE *f = fopen("/proc/self/schedstat", "r");

	if (f) {
		if (fscanf(f, "%llu %llu", &run, &wait) != 2)
			wait = 0;
		fclose(f);
	}
	return (double)wait / 1e9;
}

static double
self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* ---------------------------------------------------------------- main loop */

static void
on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
}

static uint64_t
sec_ns(double s)
{
	return (uint64_t)(s * 1e9);
}

/* One pass of the loop: main events (upstream, publisher, timer) and, when
 * due, the subscribers. Waits at most until `deadline`. */
static uint64_t next_sub_poll;

static void
loop_once(uint64_t deadline)
{
	struct epoll_event ev[64];
	uint64_t now = now_ns(), until = deadline;
	struct timespec ts;
	int n;

	if (o.batch_read && next_sub_poll < until)
		until = next_sub_poll;
	if (until < now)
		until = now;
	ts.tv_sec = (time_t)((until - now) / 1000000000ull);
	ts.tv_nsec = (long)((until - now) % 1000000000ull);
	n = epoll_pwait2(ep_main, ev, 64, &ts, NULL);
	for (int i = 0; i < n; i++) {
		struct conn *c = ev[i].data.ptr;

		switch (c->type) {
		case C_LISTEN:
			listen_accept();
			break;
		case C_UP:
		case C_PUB:
			if (ev[i].events & EPOLLIN)
				up_read(c);
			if (c->state != S_CLOSED && (ev[i].events & EPOLLOUT))
				conn_flush(c);
			if (c->state != S_CLOSED && (ev[i].events & (EPOLLERR | EPOLLHUP)) &&
			    !(ev[i].events & EPOLLIN))
				up_close(c);
			break;
		case C_TIMER: {
			uint64_t x;

			if (read(c->fd, &x, sizeof(x)) < 0) {
				/* spurious */
			}
			break;
		}
		case C_SUBEP:
			poll_subs(0);
			break;
		default:
			break;
		}
	}
	if (o.batch_read && now_ns() >= next_sub_poll) {
		poll_subs(0);
		next_sub_poll = now_ns() + (uint64_t)o.batch_us * 1000;
	}
}

static void
open_more_subs(void)
{
	while (st.next_open < o.subs && st.n_connecting < o.concurrency)
		sub_open(st.next_open++);
}

static void
usage(void)
{
	fprintf(stderr,
		"usage: uwbench --mode max|rate|idle|ceiling [--target uw|pub]\n"
		"  --listen PORT         UW-compatible server port (target uw)\n"
		"  --pub ws://127.0.0.1:P/path   publisher endpoint (target pub)\n"
		"  --sub ws://127.0.0.1:P/path   subscriber endpoint\n"
		"  --subs M --size BYTES --inflight K --rate R\n"
		"  --duration S --warmup S --drain S --settle S --timeout S\n"
		"  --read prompt|batch --batch-us U\n"
		"  --pid PID[,PID]       target process(es) for CPU and RSS\n"
		"  --pid-file FILE       ... or read them from FILE once the target is up\n"
		"  --ready notice|handshake   when a subscriber counts as subscribed\n"
		"  --src-ips N --per-ip N     spread subscribers over 127.0.0.2..\n"
		"  --ceil-batch B --writer-cpu C   ceiling mode\n"
		"  --ack-once            ack only the first join of a channel per upstream connection\n"
		"  --sub-proto ws|sse|deflate   subscribers use WebSocket, Server-Sent Events (--sub is then\n"
		"                        an http:// URL or ws:// of the same path), or WebSocket with permessage-deflate\n"
		"  --label TEXT\n"

		"  --filters K           subscribers spread over K distinct uwrelay filters\n"
		"  --filters-disjoint    ... each frame passing one of them\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "mode", 1, 0, 'm' }, { "target", 1, 0, 'T' }, { "listen", 1, 0, 'l' },
		{ "pub", 1, 0, 'P' }, { "sub", 1, 0, 's' }, { "subs", 1, 0, 'n' }, { "size", 1, 0, 'z' },
		{ "inflight", 1, 0, 'k' }, { "rate", 1, 0, 'r' }, { "duration", 1, 0, 'd' },
		{ "warmup", 1, 0, 'w' }, { "drain", 1, 0, 'D' }, { "settle", 1, 0, 'S' },
		{ "read", 1, 0, 'R' }, { "batch-us", 1, 0, 'b' }, { "pid", 1, 0, 'p' },
		{ "ready", 1, 0, 'y' }, { "src-ips", 1, 0, 'i' }, { "per-ip", 1, 0, 'I' },
		{ "ceil-batch", 1, 0, 'B' }, { "writer-cpu", 1, 0, 'W' }, { "timeout", 1, 0, 't' },
		{ "label", 1, 0, 'L' }, { "concurrency", 1, 0, 'c' }, { "stall", 1, 0, 'x' }, { "ack-once", 0, 0, 'A' },
		{ "pid-file", 1, 0, 'F' }, { "filters", 1, 0, 'f' }, { "filters-disjoint", 0, 0, 'j' },
		{ "sub-proto", 1, 0, 'X' },
		{ "help", 0, 0, 'h' }, { 0, 0, 0, 0 }
	};
	int ch;
	struct rlimit rl;
	struct procinfo p0, p1, pe;
	double cpu0 = 0, cpu1 = 0, wait0 = 0, wait1 = 0, t_meas = 0, connect_s = 0;
	uint64_t t_start, t, deadline, sent0 = 0, sent1 = 0, acked0 = 0;
	pid_t writer = 0;
	int timer_fd = -1;
	long rss_before = 0, rss_after = 0;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'm':
			if (!strcmp(optarg, "max"))
				o.mode = M_MAX;
			else if (!strcmp(optarg, "rate"))
				o.mode = M_RATE;
			else if (!strcmp(optarg, "idle"))
				o.mode = M_IDLE;
			else if (!strcmp(optarg, "ceiling"))
				o.mode = M_CEILING;
			else
				usage();
			break;
		case 'T':
			o.target = !strcmp(optarg, "uw") ? T_UW : !strcmp(optarg, "pub") ? T_PUB : T_NONE;
			break;
		case 'l': o.listen_port = atoi(optarg); break;
		case 'P':
			if (parse_ws_url(optarg, o.pub_host, &o.pub_port, o.pub_path))
				die("bad --pub url");
			break;
		case 's':
			if (parse_ws_url(optarg, o.sub_host, &o.sub_port, o.sub_path))
				die("bad --sub url");
			break;
		case 'n': o.subs = atoi(optarg); break;
		case 'z': o.size = atoi(optarg); break;
		case 'k': o.inflight = atoi(optarg); break;
		case 'r': o.rate = atof(optarg); break;
		case 'd': o.duration = atof(optarg); break;
		case 'w': o.warmup = atof(optarg); break;
		case 'D': o.drain = atof(optarg); break;
		case 'S': o.settle = atof(optarg); break;
		case 'R': o.batch_read = !strcmp(optarg, "batch"); break;
		case 'b': o.batch_us = atoi(optarg); break;
		case 'p': snprintf(o.pids, sizeof(o.pids), "%s", optarg); break;
		case 'y': o.ready_notice = !strcmp(optarg, "notice"); break;
		case 'i': o.src_ips = atoi(optarg); break;
		case 'I': o.per_ip = atoi(optarg); break;
		case 'B': o.ceil_batch = atoi(optarg); break;
		case 'W': o.writer_cpu = atoi(optarg); break;
		case 't': o.timeout = atof(optarg); break;
		case 'L': snprintf(o.label, sizeof(o.label), "%s", optarg); break;
		case 'f': o.filters = atoi(optarg); break;
		case 'j': o.filters_disjoint = 1; break;
		case 'c': o.concurrency = atoi(optarg); break;
		case 'x': o.stall = atof(optarg); break;
		case 'A': o.ack_once = 1; break;
		case 'F': snprintf(o.pid_file, sizeof(o.pid_file), "%s", optarg); break;
		case 'X':
			o.sub_proto = !strcmp(optarg, "sse") ? P_SSE : !strcmp(optarg, "deflate") ? P_DEFLATE :
				      !strcmp(optarg, "ws") ? P_WS : -1;
			if (o.sub_proto < 0)
				usage();
			break;
		default: usage();
		}
	}
	if (o.subs < 1 || o.inflight < 1 || o.size < 64 || o.ceil_batch < 1 || o.per_ip < 1)
		usage();
	if (o.mode == M_CEILING)
		o.target = T_NONE;
	else if (!o.sub_port)
		die("--sub is required");
	if (o.target == T_UW && o.mode != M_CEILING && !o.listen_port)
		die("--listen is required with --target uw");
	if (o.target == T_PUB && !o.pub_port)
		die("--pub is required with --target pub");
	if (o.ready_notice < 0)
		o.ready_notice = 0;
	if (o.ceil_batch > o.inflight)
		o.ceil_batch = o.inflight;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	alarm((unsigned)(o.timeout + 0.999));
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	rbuf = malloc(RBUF_SIZE);
	subs = calloc((size_t)o.subs, sizeof(*subs));
	slot_cnt = calloc((size_t)o.inflight, sizeof(*slot_cnt));
	for (int i = 0; i < o.subs; i++)
		subs[i].fd = -1;
	build_template();
	ep_main = epoll_create1(EPOLL_CLOEXEC);
	ep_subs = epoll_create1(EPOLL_CLOEXEC);
	c_subep.fd = ep_subs;
	c_subep.type = C_SUBEP;
	if (!o.batch_read)
		ep_add(ep_main, &c_subep, EPOLLIN);
	t_start = now_ns();

	/* upstream side first: the relay connects to us at start-up */
	if (o.target == T_UW) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o.listen_port) };
		int one = 1;

		inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
		c_listen.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		c_listen.type = C_LISTEN;
		setsockopt(c_listen.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(c_listen.fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(c_listen.fd, 64))
			die("listen on 127.0.0.1:%d: %s", o.listen_port, strerror(errno));
		ep_add(ep_main, &c_listen, EPOLLIN);
		/* wait for the target to connect upstream (it retries on its own) */
		deadline = now_ns() + sec_ns(o.timeout * 0.5);
		while (!timed_out && now_ns() < deadline) {
			int open = 0;

			for (int i = 0; i < n_up; i++)
				open += up_conns[i]->state == S_OPEN;
			if (open)
				break;
			loop_once(now_ns() + 50000000ull);
		}
		if (!n_up)
			die("the target never connected to ws://127.0.0.1:%d/socket", o.listen_port);
	} else if (o.target == T_PUB)
		pub_connect();

	if (o.pid_file[0] && !o.pids[0]) {
		/* the target was started after us (it connects to our listener at
		 * start-up): its PID arrives in a file */
		deadline = now_ns() + sec_ns(10);
		while (!timed_out && now_ns() < deadline) {
			FILE *f = fopen(o.pid_file, "r");

			if (f) {
				int ok = fscanf(f, "%255s", o.pids) == 1;

				fclose(f);
				if (ok)
					break;
			}
			loop_once(now_ns() + 20000000ull);
		}
	}
	p0 = proc_read();
	rss_before = p0.rss_kib;

	/* subscribers */
	if (o.mode == M_CEILING)
		writer = ceiling_setup();
	else {
		deadline = now_ns() + sec_ns(o.timeout * 0.6);
		while (!timed_out && now_ns() < deadline &&
		       (st.next_open < o.subs || st.n_connecting ||
			(o.ready_notice && st.n_ready < st.n_open))) {
			open_more_subs();
			loop_once(now_ns() + 20000000ull);
		}
	}
	connect_s = (double)(now_ns() - t_start) / 1e9;
	/* settle: the target finishes registering subscribers (FastAPI adds
	 * a socket to its set after the 101 has gone out) */
	deadline = now_ns() + sec_ns(o.settle);
	while (!timed_out && now_ns() < deadline)
		loop_once(deadline);
	if (o.target == T_UW && o.mode != M_IDLE) {
		deadline = now_ns() + sec_ns(5);
		while (!timed_out && !sender && now_ns() < deadline)
			loop_once(now_ns() + 20000000ull);
		if (!sender)
			die("no join for " CHANNEL " reached the upstream side");
	}

	if (o.mode == M_IDLE) {
		/* let lazily allocated buffers settle, then read the target */
		deadline = now_ns() + sec_ns(o.duration);
		while (!timed_out && now_ns() < deadline)
			loop_once(deadline);
		p1 = proc_read();
		rss_after = p1.rss_kib;
		pe = p1;
		goto report;
	}

	if (o.mode == M_RATE) {
		struct itimerspec its;
		double iv = 1.0 / o.rate;

		if (iv < 0.001)
			iv = 0.001;
		timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		its.it_interval.tv_sec = (time_t)iv;
		its.it_interval.tv_nsec = (long)((iv - (double)(time_t)iv) * 1e9);
		its.it_value = its.it_interval;
		timerfd_settime(timer_fd, 0, &its, NULL);
		c_timer.fd = timer_fd;
		c_timer.type = C_TIMER;
		ep_add(ep_main, &c_timer, EPOLLIN);
	}

	/* warmup + measured window + drain */
	st.t_send_start = now_ns();
	st.t_last_progress = st.t_send_start;
	{
		uint64_t t_meas0 = st.t_send_start + sec_ns(o.warmup), t_meas1 = t_meas0 + sec_ns(o.duration);
		uint64_t t_end = t_meas1 + sec_ns(o.drain), t_w0 = 0;
		int phase = 0;	/* 0 warmup, 1 measure, 2 drain */

		while (!timed_out) {
			t = now_ns();
			if (phase == 0 && t >= t_meas0) {
				phase = 1;
				st.measuring = 1;
				cpu0 = self_cpu();
				wait0 = self_wait();
				p0 = proc_read();
				sent0 = o.mode == M_CEILING ? atomic_load(&shm->sent) : st.sent;
				acked0 = st.acked;
				t_w0 = t;
				st.delivered_window = 0;
			}
			if (phase == 1 && t >= t_meas1) {
				phase = 2;
				st.measuring = 0;
				cpu1 = self_cpu();
				wait1 = self_wait();
				p1 = proc_read();
				t_meas = (double)(t - t_w0) / 1e9;
				sent1 = o.mode == M_CEILING ? atomic_load(&shm->sent) : st.sent;
				if (o.mode == M_CEILING)
					atomic_store(&shm->pause, 1);
			}
			if (phase == 2) {
				if (o.mode == M_CEILING)
					st.sent = atomic_load(&shm->sent);
				advance_acked();
				if (st.acked >= st.sent || t >= t_end || !st.active)
					break;
			}
			if (o.mode == M_CEILING) {
				st.sent = atomic_load(&shm->sent);
				advance_acked();
				if (atomic_load(&shm->acked) != st.acked) {
					atomic_store(&shm->acked, st.acked);
					atomic_fetch_add(&shm->fseq, 1);
					if (atomic_exchange(&shm->waiting, 0))
						syscall(SYS_futex, &shm->fseq, FUTEX_WAKE, 1, NULL, NULL, 0);
				}
			} else if (phase < 2) {
				if (o.mode == M_MAX) {
					advance_acked();
					/* frames that the target holds back or dropped must
					 * not stop the run: after o.stall s without progress,
					 * give up on the whole window (what arrives later still
					 * counts as delivered) and count a stall */
					if (st.sent > st.acked && t > st.t_last_progress &&
					    t - st.t_last_progress > sec_ns(o.stall)) {
						while (st.acked < st.sent)
							slot_cnt[++st.acked % (uint64_t)o.inflight] = 0;
						st.stalls++;
						st.t_last_progress = t;
					}
					fill_max();
				} else {
					uint64_t due = (uint64_t)((double)(t - st.t_send_start) / 1e9 * o.rate);

					if (due > st.sent)
						send_frames(due - st.sent > 10000 ? 10000 : due - st.sent);
				}
			}
			deadline = phase == 0 ? t_meas0 : phase == 1 ? t_meas1 : t_end;
			if (o.mode == M_CEILING || (o.mode == M_MAX && phase < 2))
				deadline = t + 2000000ull < deadline ? t + 2000000ull : deadline;
			loop_once(deadline);
		}
		if (phase < 2) {
			cpu1 = self_cpu();
			wait1 = self_wait();
			p1 = proc_read();
			t_meas = t_w0 ? (double)(now_ns() - t_w0) / 1e9 : 0;
			sent1 = st.sent;
		}
		pe = proc_read();
	}
	st.finished = 1;	/* closes from here on are ours */
	if (writer) {
		atomic_store(&shm->stop, 1);
		syscall(SYS_futex, &shm->fseq, FUTEX_WAKE, 1, NULL, NULL, 0);
		for (int i = 0; i < o.subs; i++)
			if (subs[i].fd >= 0)
				shutdown(subs[i].fd, SHUT_RDWR);
		waitpid(writer, NULL, 0);
	}

report:;
	{
		uint64_t tail = 0;
		int alive = 0;
		double dps = t_meas > 0 ? (double)st.delivered_window / t_meas : 0;
		double sps = t_meas > 0 ? (double)(sent1 - sent0) / t_meas : 0;
		double tool_cpu = t_meas > 0 ? 100.0 * (cpu1 - cpu0) / t_meas : 0;
		double tgt_cpu = t_meas > 0 && p1.ok ? 100.0 * (p1.cpu_s - p0.cpu_s) / t_meas : -1;
		double tgt_wait = t_meas > 0 && p1.ok ? 100.0 * (p1.wait_s - p0.wait_s) / t_meas : -1;
		double tool_wait = t_meas > 0 ? 100.0 * (wait1 - wait0) / t_meas : 0;
		const char *mode = o.mode == M_MAX ? "max" : o.mode == M_RATE ? "rate" : o.mode == M_IDLE ? "idle" : "ceiling";
		const char *tgt = o.target == T_UW ? "uw" : o.target == T_PUB ? "pub" : "none";

		(void)acked0;
		for (int i = 0; i < o.subs; i++) {
			if (subs[i].state == S_OPEN) {
				alive++;
				if (o.mode != M_IDLE && subs[i].ready && st.sent > subs[i].last_n)
					tail += st.sent - subs[i].last_n;
			}
		}
		printf("{\"label\":\"%s\",\"mode\":\"%s\",\"target\":\"%s\",\"subs\":%d,\"size\":%d,"
		       "\"msg_bytes\":%zu,\"inflight\":%d,\"rate\":%g,\"read\":\"%s\",\"batch_us\":%d,"
		       "\"ceil_batch\":%d,\"duration_s\":%.3f,\"connect_s\":%.3f,"
		       "\"open\":%d,\"ready\":%d,\"alive\":%d,\"connect_fail\":%" PRIu64 ",\"hs_fail\":%" PRIu64 ","
		       "\"sent\":%" PRIu64 ",\"sent_per_s\":%.1f,\"delivered\":%" PRIu64 ",\"delivered_per_s\":%.1f,"
		       "\"lat_count\":%" PRIu64 ",\"lat_p50_us\":%.1f,\"lat_p99_us\":%.1f,\"lat_p999_us\":%.1f,\"lat_max_us\":%.1f,"
		       "\"gaps\":%" PRIu64 ",\"dups\":%" PRIu64 ",\"tail_missing\":%" PRIu64 ",\"stalls\":%" PRIu64 ","
		       "\"closed\":%" PRIu64 ",\"close_codes\":{",
		       o.label, mode, tgt, o.subs, o.size, msg_len, o.inflight, o.rate,
		       o.batch_read ? "batch" : "prompt", o.batch_us, o.ceil_batch, t_meas, connect_s, st.n_open,
		       st.n_ready, alive, st.connect_fail, st.hs_fail, st.sent, sps, st.delivered_window, dps,
		       st.lat.count, hist_pct(&st.lat, 0.5) / 1e3, hist_pct(&st.lat, 0.99) / 1e3,
		       hist_pct(&st.lat, 0.999) / 1e3, st.lat.max / 1e3, st.gaps, st.dups, tail, st.stalls,
		       st.closed);
		for (int i = 0; i < st.n_close_codes; i++)
			printf("%s\"%u\":%" PRIu64, i ? "," : "", st.close_code_list[i], st.closed_codes[i]);
		printf("},\"pub_replies\":%" PRIu64 ",\"foreign\":%" PRIu64 ",\"other_msgs\":%" PRIu64 ",\"joins\":%" PRIu64 ",\"joins_unacked\":%" PRIu64 ",\"pings\":%" PRIu64 ","
		       "\"tool_cpu_pct\":%.1f,\"tool_wait_pct\":%.1f,\"writer_cpu_s\":%.3f,\"target_cpu_pct\":%.1f,"
		       "\"target_wait_pct\":%.1f,"
		       "\"target_rss_kib\":%ld,\"target_hwm_kib\":%ld,\"rss_before_kib\":%ld,\"rss_after_kib\":%ld,"
		       "\"rss_per_sub_bytes\":%.0f,\"sub_proto\":\"%s\",\"sub_bytes\":%" PRIu64 ","
		       "\"sub_bytes_per_delivery\":%.1f,\"timed_out\":%d}\n",
		       st.pub_replies, st.foreign, st.other_msgs, st.joins, st.joins_unacked, st.pings, tool_cpu, tool_wait,
		       shm ? shm->cpu_s : 0.0, tgt_cpu, tgt_wait,
		       pe.rss_kib, pe.hwm_kib, rss_before, rss_after,
		       o.mode == M_IDLE && alive ? (double)(rss_after - rss_before) * 1024.0 / alive : 0.0,
		       o.sub_proto == P_SSE ? "sse" : o.sub_proto == P_DEFLATE ? "deflate" : "ws",
		       st.sub_bytes_window,
		       st.delivered_window ? (double)st.sub_bytes_window / (double)st.delivered_window : 0.0,
		       (int)timed_out);
		fflush(stdout);
		if (o.mode == M_IDLE)
			fprintf(stderr, "%s idle %d open: rss %ld -> %ld KiB, %.0f B/sub\n", o.label, alive,
				rss_before, rss_after,
				alive ? (double)(rss_after - rss_before) * 1024.0 / alive : 0.0);
		else
			fprintf(stderr,
				"%s %s subs=%d size=%d: %.0f deliv/s (%.0f sent/s) p50 %.0f us p99 %.0f us "
				"gaps %" PRIu64 " tail %" PRIu64 " closed %" PRIu64 " stalls %" PRIu64
				" tool %.0f%% (waited %.0f%%) target %.0f%% (waited %.0f%%) rss %ld KiB\n",
				o.label, mode, o.subs, o.size, dps, sps, hist_pct(&st.lat, 0.5) / 1e3,
				hist_pct(&st.lat, 0.99) / 1e3, st.gaps, tail, st.closed, st.stalls, tool_cpu, tool_wait,
				tgt_cpu, tgt_wait,
				pe.hwm_kib);
	}
	return timed_out ? 3 : 0;
}
