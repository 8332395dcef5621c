/*
 * uwsim - impersonates the Unusual Whales WebSocket server on loopback for
 * uwrelay's integration tests, benchmarks and demo.
 *
 * One lws context, one event loop, everything non-blocking; timers are
 * lws_sul. See README.md in this directory for the command line and the
 * HTTP control API (GET /ctl/... on the ws port).
 *
 * Outgoing data is never materialised in advance: each (connection,
 * channel) keeps counters of frames owed (publish batches, rate ticks) and
 * frames are generated one at a time from SERVER_WRITEABLE while the socket
 * is not choked. Memory therefore stays bounded whatever the backlog, and
 * "sim_seq" is assigned at send time, in order.
 */
#define _GNU_SOURCE
#include "uwsim.h"

#include <libwebsockets.h>
#include <cjson/cJSON.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define UW_401_BODY \
	"Your token does not have the websocket scope. Please contact support."

#define MAX_CHAN_NAME		256
#define MAX_CHANS_PER_CONN	4096
#define MAX_CLIENT_MSG		(64 * 1024)
#define MAX_FRAME_BYTES		(64u * 1024 * 1024)
#define MAX_HTTP_HDR		(128 * 1024)
#define ACK_DELAY_US		(20 * 1000)
#define RATE_TICK_US		(10 * 1000)
#define HEARTBEAT_US		(100 * 1000)
#define LOGN			1000
/* UW's REST route for congress trades, and what the sim keeps of it */
#define REST_PATH		"/api/congress/recent-trades"
#define CONGRESS_KEEP		2000	/* newest rows kept (served: <= 200) */
#define CONGRESS_TICK_US	(100 * 1000)
#define REST_LOGN		200
#define REST_LIMIT_DEF		100
#define REST_LIMIT_MAX		200
/* per WRITEABLE callback, to stay fair between connections */
#define WRITE_BUDGET_FRAMES	1024
#define WRITE_BUDGET_BYTES	(1024 * 1024)

/* ------------------------------------------------------------- types */

struct pub_batch {
	struct pub_batch *next;
	uint64_t count;		/* frames still to send */
	size_t size;		/* target size, 0 natural */
};

struct conn;

struct chan {
	struct chan *next;
	struct conn *conn;
	char *name;
	uint64_t seq;		/* last sim_seq sent; kept across leave/join */
	int joined;		/* currently joined (else kept for seq only) */
	int acked;		/* data may flow */
	int ack_pending;	/* ack_sul scheduled */
	lws_sorted_usec_list_t ack_sul;
	struct pub_batch *pub_head, *pub_tail;
	uint64_t owed_rate;	/* frames due from rate ticks */
	double rate_acc;
};

enum out_kind { OUT_ACK, OUT_TEXT, OUT_BINARY, OUT_RAW };

struct outmsg {
	struct outmsg *next;
	enum out_kind kind;
	int ack_ok;		/* OUT_ACK: status was "ok" */
	char *chan;		/* OUT_ACK: channel name */
	size_t len;
	unsigned char *buf;	/* LWS_PRE + len */
};

struct conn {
	struct conn *prev, *next;
	struct lws *wsi;
	int docs;		/* /api/socket: never sends anything */
	int closing;		/* 0, CUT_CLOSE, CUT_DROP */
	struct chan *chans, *chans_tail, *rr;
	int nchans;
	struct outmsg *out_head, *out_tail;
	unsigned char *rx;
	size_t rxlen;
	int rx_overflow, rx_binary;
};

#define CUT_CLOSE 1
#define CUT_DROP 2

/*
 * One REST request, decided when it arrives: the status it gets and why.
 * The rows themselves are read when the answer is written, so an answer
 * held back by the delay fault carries the rows of that moment.
 */
struct rest_req {
	int status;		/* 200, 401, 422 or a fault status */
	int garbage;		/* 1..3: a 200 whose body is malformed */
	int limit;
	char ticker[16];	/* "" = any */
	char date[11];		/* "" = any; else filed on or before */
	char retry_after[65];	/* "" = no Retry-After header */
	const char *why;	/* message of a 422 */
};

struct pss {
	struct conn *c;		/* WebSocket connections only */
	/* HTTP: a REST answer held back by the delay fault */
	struct lws *wsi;
	lws_sorted_usec_list_t sul;
	int held;		/* 1 waiting for the timer, 2 due */
	struct rest_req req;
};

struct chan_rate {
	struct chan_rate *next;
	char *name;
	double rate;
};

struct logring {
	char *v[LOGN];
	int head, n;
};

struct rest_log_ent {
	double t;		/* CLOCK_MONOTONIC seconds */
	int status;
	int garbage;
	int auth_ok;
	double delay;
	char *path;		/* path?query, any token masked */
};

static struct {
	/* options */
	int port, tls_port;
	const char *cert, *key, *token, *host, *record_path;
	double rate;
	size_t size;
	int verbose;

	struct lws_context *ctx;
	struct lws_vhost *vh, *vhs;
	FILE *rec;
	volatile sig_atomic_t stop;

	struct conn *conns;
	int nconns;

	struct chan_rate *rates;
	int rate_running;
	int64_t last_tick;
	lws_sorted_usec_list_t rate_sul, hb_sul;

	/* faults */
	int silent, noack;
	char ackstatus[65];
	long refuse_count;
	int refuse_status;

	/* congress trades (REST): a ring of the newest rows, oldest first */
	struct congress_row congress[CONGRESS_KEEP];
	int congress_head, congress_n;	/* next slot, rows held */
	uint64_t congress_k;		/* last sim_row made */
	long congress_init;
	double congress_rate, congress_acc;
	int64_t congress_last_tick;
	lws_sorted_usec_list_t congress_sul;

	/* REST faults: the next rest_fault_count requests (-1: all) get
	 * rest_fault_status, or a garbage body, or a delayed answer */
	long rest_fault_count;
	int rest_fault_status, rest_fault_garbage;
	double rest_fault_delay;
	char rest_retry_after[65];
	uint64_t rest_requests;
	struct rest_log_ent rest_log[REST_LOGN];
	int rest_log_head, rest_log_n;

	/* counters */
	uint64_t handshakes_ok, handshakes_refused, joins, leaves,
		 frames_sent, bad_client_msgs, acks_sent, raw_sent, pongs;
	char last_pong[126];		/* payload of the last pong received */
	int close_codes[16];		/* codes of the clients' close frames, oldest first */
	int n_close_codes;
	struct logring join_log, leave_log;

	struct sb fb;		/* frame scratch, LWS_PRE headroom */
	char *argbuf;		/* url arg scratch, MAX_HTTP_HDR */
} g;

/* -------------------------------------------------------------- misc */

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
	va_list ap;

	fputs("uwsim: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* route lws's own log lines, masking anything that looks like a token */
static void lws_emit(int level, const char *line)
{
	char out[1024];
	size_t o = 0;
	const char *p = line;

	(void)level;
	while (*p && o < sizeof(out) - 8) {
		if (!strncmp(p, "token=", 6)) {
			memcpy(out + o, "token=***", 9);
			o += 9;
			p += 6;
			while (*p && *p != '&' && *p != ' ' && *p != '\n')
				p++;
			continue;
		}
		out[o++] = *p++;
	}
	out[o] = '\0';
	fprintf(stderr, "uwsim[lws]: %s%s", out,
		o && out[o - 1] == '\n' ? "" : "\n");
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void log_push(struct logring *r, const char *s)
{
	if (r->n == LOGN)
		free(r->v[r->head]);
	r->v[r->head] = strdup(s);
	r->head = (r->head + 1) % LOGN;
	if (r->n < LOGN)
		r->n++;
}

static void log_clear(struct logring *r)
{
	int i;

	for (i = 0; i < LOGN; i++) {
		free(r->v[i]);
		r->v[i] = NULL;
	}
	r->head = r->n = 0;
}

static cJSON *log_json(const struct logring *r)
{
	cJSON *a = cJSON_CreateArray();
	int i, k = (r->head - r->n + LOGN) % LOGN;

	for (i = 0; a && i < r->n; i++, k = (k + 1) % LOGN)
		cJSON_AddItemToArray(a, cJSON_CreateString(r->v[k] ? r->v[k] : ""));
	return a;
}

/* ------------------------------------------------------ channel rates */

static double chan_rate_of(const char *name)
{
	struct chan_rate *r;

	for (r = g.rates; r; r = r->next)
		if (!strcmp(r->name, name))
			return r->rate;
	return 0;
}

static void rates_clear(void)
{
	while (g.rates) {
		struct chan_rate *r = g.rates;

		g.rates = r->next;
		free(r->name);
		free(r);
	}
}

static void rate_tick(lws_sorted_usec_list_t *sul);

static void rate_kick(void)
{
	if (g.rate_running || !(g.rate > 0 || g.rates))
		return;
	g.rate_running = 1;
	g.last_tick = mono_us();
	lws_sul_schedule(g.ctx, 0, &g.rate_sul, rate_tick, RATE_TICK_US);
}

/* ---------------------------------------------------- per connection */

static struct chan *chan_find(struct conn *c, const char *name)
{
	struct chan *ch;

	for (ch = c->chans; ch; ch = ch->next)
		if (!strcmp(ch->name, name))
			return ch;
	return NULL;
}

static int chan_ready(const struct chan *ch)
{
	return ch->joined && ch->acked && (ch->pub_head || ch->owed_rate);
}

static int conn_has_work(const struct conn *c)
{
	const struct chan *ch;

	if (c->out_head)
		return 1;
	for (ch = c->chans; ch; ch = ch->next)
		if (chan_ready(ch))
			return 1;
	return 0;
}

static int conn_can_send(const struct conn *c)
{
	return !c->docs && !c->closing && !g.silent;
}

static void conn_kick(struct conn *c)
{
	if (c->closing || conn_has_work(c))
		lws_callback_on_writable(c->wsi);
}

static void chan_free(struct chan *ch)
{
	lws_sul_cancel(&ch->ack_sul);
	while (ch->pub_head) {
		struct pub_batch *b = ch->pub_head;

		ch->pub_head = b->next;
		free(b);
	}
	free(ch->name);
	free(ch);
}

/* forget a channel's subscription state; its sim_seq counter stays, so
 * frames after a rejoin continue the sequence and any gap is a real loss */
static void chan_unjoin(struct chan *ch)
{
	lws_sul_cancel(&ch->ack_sul);
	ch->ack_pending = 0;
	ch->joined = 0;
	ch->acked = 0;
	while (ch->pub_head) {
		struct pub_batch *b = ch->pub_head;

		ch->pub_head = b->next;
		free(b);
	}
	ch->pub_tail = NULL;
	ch->owed_rate = 0;
	ch->rate_acc = 0;
}

static int out_push(struct conn *c, enum out_kind kind, const char *data,
		    size_t len, const char *chan, int ack_ok)
{
	struct outmsg *m = calloc(1, sizeof(*m));

	if (!m)
		return -1;
	m->buf = malloc(LWS_PRE + len + 1);
	if (!m->buf || (chan && !(m->chan = strdup(chan)))) {
		free(m->buf);
		free(m);
		return -1;
	}
	memcpy(m->buf + LWS_PRE, data, len);
	m->len = len;
	m->kind = kind;
	m->ack_ok = ack_ok;
	if (c->out_tail)
		c->out_tail->next = m;
	else
		c->out_head = m;
	c->out_tail = m;
	return 0;
}

static void out_free(struct outmsg *m)
{
	free(m->buf);
	free(m->chan);
	free(m);
}

static void ack_cb(lws_sorted_usec_list_t *sul)
{
	struct chan *ch = lws_container_of(sul, struct chan, ack_sul);
	struct conn *c = ch->conn;
	struct sb a;

	ch->ack_pending = 0;
	sb_init(&a, 0);
	sb_putc(&a, '[');
	sb_json_str(&a, ch->name);
	sb_puts(&a, ",{\"response\":{},\"status\":");
	sb_json_str(&a, g.ackstatus);
	sb_puts(&a, "}]");
	if (!a.oom)
		out_push(c, OUT_ACK, sb_data(&a), a.len, ch->name,
			 !strcmp(g.ackstatus, "ok"));
	sb_free(&a);
	conn_kick(c);
}

static void do_join(struct conn *c, const char *name)
{
	struct chan *ch;

	g.joins++;
	log_push(&g.join_log, name);
	if (g.verbose)
		logmsg("join %s", name);

	ch = chan_find(c, name);
	if (!ch) {
		if (c->nchans >= MAX_CHANS_PER_CONN) {
			g.bad_client_msgs++;
			return;
		}
		ch = calloc(1, sizeof(*ch));
		if (!ch || !(ch->name = strdup(name))) {
			free(ch);
			return;
		}
		ch->conn = c;
		if (c->chans_tail)
			c->chans_tail->next = ch;
		else
			c->chans = ch;
		c->chans_tail = ch;
		c->nchans++;
	}
	ch->joined = 1;
	if (c->docs)
		return;		/* the docs route never answers */
	if (g.noack) {
		ch->acked = 1;
		conn_kick(c);
		return;
	}
	if (!ch->ack_pending) {
		ch->ack_pending = 1;
		lws_sul_schedule(g.ctx, 0, &ch->ack_sul, ack_cb, ACK_DELAY_US);
	}
}

static void do_leave(struct conn *c, const char *name)
{
	struct chan *ch;

	g.leaves++;
	log_push(&g.leave_log, name);
	if (g.verbose)
		logmsg("leave %s", name);
	ch = chan_find(c, name);
	if (ch && ch->joined)
		chan_unjoin(ch);
}

static void client_msg(struct conn *c, const char *data, size_t len)
{
	cJSON *j, *ch, *mt;

	j = cJSON_ParseWithLength(data, len);
	ch = cJSON_GetObjectItemCaseSensitive(j, "channel");
	mt = cJSON_GetObjectItemCaseSensitive(j, "msg_type");
	if (!cJSON_IsObject(j) || !cJSON_IsString(ch) || !cJSON_IsString(mt) ||
	    !ch->valuestring[0] || strlen(ch->valuestring) > MAX_CHAN_NAME)
		g.bad_client_msgs++;
	else if (!strcmp(mt->valuestring, "join"))
		do_join(c, ch->valuestring);
	else if (!strcmp(mt->valuestring, "leave"))
		do_leave(c, ch->valuestring);
	else
		g.bad_client_msgs++;
	cJSON_Delete(j);
}

static void conn_free(struct conn *c)
{
	while (c->chans) {
		struct chan *ch = c->chans;

		c->chans = ch->next;
		chan_free(ch);
	}
	while (c->out_head) {
		struct outmsg *m = c->out_head;

		c->out_head = m->next;
		out_free(m);
	}
	free(c->rx);
	free(c);
}

static void conn_unlink(struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		g.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	g.nconns--;
}

/* next channel with data to send, round robin */
static struct chan *next_ready(struct conn *c)
{
	struct chan *ch = c->rr ? c->rr->next : NULL;
	int i;

	for (i = 0; i <= c->nchans; i++) {
		if (!ch)
			ch = c->chans;
		if (!ch)
			return NULL;
		if (chan_ready(ch)) {
			c->rr = ch;
			return ch;
		}
		ch = ch->next;
	}
	return NULL;
}

static int conn_writable(struct conn *c)
{
	struct lws *wsi = c->wsi;
	int frames = 0, recorded = 0, rc = 0;
	size_t bytes = 0;

	if (c->closing == CUT_CLOSE) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_GOINGAWAY,
				 (unsigned char *)"uwsim cut", 9);
		return -1;
	}
	if (!conn_can_send(c))
		return 0;

	while (frames < WRITE_BUDGET_FRAMES && bytes < WRITE_BUDGET_BYTES &&
	       !lws_send_pipe_choked(wsi)) {
		struct chan *ch;
		size_t len, target;
		int n;

		if (c->out_head) {
			struct outmsg *m = c->out_head;

			/* OUT_RAW: bytes as they are, no framing (LWS_WRITE_HTTP
			 * skips lws' ws framing): hand-made frames for tests */
			n = lws_write(wsi, m->buf + LWS_PRE, m->len,
				      m->kind == OUT_BINARY ? LWS_WRITE_BINARY :
				      m->kind == OUT_RAW ? LWS_WRITE_HTTP : LWS_WRITE_TEXT);
			if (n < (int)m->len) {
				rc = -1;
				break;
			}
			if (m->kind == OUT_ACK) {
				g.acks_sent++;
				ch = chan_find(c, m->chan);
				if (ch && ch->joined && m->ack_ok)
					ch->acked = 1;
			} else
				g.raw_sent++;
			c->out_head = m->next;
			if (!c->out_head)
				c->out_tail = NULL;
			bytes += m->len;
			out_free(m);
			frames++;
			continue;
		}

		ch = next_ready(c);
		if (!ch)
			break;
		target = ch->pub_head ? ch->pub_head->size : g.size;
		len = gen_frame(&g.fb, ch->name, ch->seq + 1, target);
		if (!len) {
			logmsg("out of memory building a frame");
			rc = -1;
			break;
		}
		n = lws_write(wsi, (unsigned char *)sb_data(&g.fb), len,
			      LWS_WRITE_TEXT);
		if (n < (int)len) {
			rc = -1;
			break;
		}
		ch->seq++;
		if (ch->pub_head) {
			if (!--ch->pub_head->count) {
				struct pub_batch *b = ch->pub_head;

				ch->pub_head = b->next;
				if (!ch->pub_head)
					ch->pub_tail = NULL;
				free(b);
			}
		} else
			ch->owed_rate--;
		g.frames_sent++;
		if (g.rec) {
			fwrite(sb_data(&g.fb), 1, len, g.rec);
			fputc('\n', g.rec);
			recorded = 1;
		}
		bytes += len;
		frames++;
	}
	if (recorded)
		fflush(g.rec);
	if (!rc && conn_has_work(c))
		lws_callback_on_writable(wsi);
	return rc;
}

static void rate_tick(lws_sorted_usec_list_t *sul)
{
	int64_t now = mono_us();
	double dt = (double)(now - g.last_tick) / 1e6;
	struct conn *c;

	(void)sul;
	g.last_tick = now;
	if (!(g.rate > 0 || g.rates)) {
		g.rate_running = 0;
		return;
	}
	if (dt > 1.0)
		dt = 1.0;
	if (dt < 0)
		dt = 0;

	for (c = g.conns; c; c = c->next) {
		struct chan *ch;
		int due = 0;

		if (!conn_can_send(c))
			continue;
		for (ch = c->chans; ch; ch = ch->next) {
			double r = g.rate + chan_rate_of(ch->name);
			uint64_t k;

			if (!ch->joined || !ch->acked || r <= 0)
				continue;
			ch->rate_acc += r * dt;
			k = (uint64_t)ch->rate_acc;
			ch->rate_acc -= (double)k;
			if (k) {
				ch->owed_rate += k;
				due = 1;
			}
		}
		if (due)
			lws_callback_on_writable(c->wsi);
	}
	lws_sul_schedule(g.ctx, 0, &g.rate_sul, rate_tick, RATE_TICK_US);
}

static void heartbeat(lws_sorted_usec_list_t *sul)
{
	/* only here so the loop wakes and notices a signal promptly */
	lws_sul_schedule(g.ctx, 0, sul, heartbeat, HEARTBEAT_US);
}

/* --------------------------------------------------------- handshake */

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 422: return "Unprocessable Entity";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Error";
	}
}

/*
 * Answer a refused upgrade ourselves, as UW does: an HTTP/1.1 status line
 * (lws would say HTTP/1.0 here, the request version isn't parsed yet), a
 * text/plain body, and close.
 */
static int http_refuse(struct lws *wsi, int status, const char *body)
{
	unsigned char buf[LWS_PRE + 1024];
	char *start = (char *)buf + LWS_PRE;
	int n;

	n = snprintf(start, sizeof(buf) - LWS_PRE,
		     "HTTP/1.1 %d %s\r\n"
		     "Content-Type: text/plain\r\n"
		     "Content-Length: %zu\r\n"
		     "Connection: close\r\n"
		     "\r\n%s", status, reason_phrase(status), strlen(body),
		     body);
	if (n <= 0 || (size_t)n >= sizeof(buf) - LWS_PRE)
		return -1;
	if (lws_write(wsi, (unsigned char *)start, (size_t)n,
		      LWS_WRITE_HTTP_HEADERS) != n)
		return -1;
	return 1;
}

static int confirm_upgrade(struct lws *wsi)
{
	char uri[512];
	const char *tok;
	int n;

	if (g.refuse_count) {
		char body[96];

		if (g.refuse_count > 0)
			g.refuse_count--;
		g.handshakes_refused++;
		logmsg("refusing upgrade (fault), status %d", g.refuse_status);
		if (!g.refuse_status)
			return -1;	/* hang up, no answer */
		if (g.refuse_status == 401)
			return http_refuse(wsi, 401, UW_401_BODY);
		snprintf(body, sizeof(body), "uwsim: refused with status %d",
			 g.refuse_status);
		return http_refuse(wsi, g.refuse_status, body);
	}

	n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
	if (n > 0 && !strcmp(uri, "/api/socket"))
		return 0;
	if (n <= 0 || strcmp(uri, "/socket")) {
		g.handshakes_refused++;
		logmsg("refusing upgrade: unknown path (404)");
		return http_refuse(wsi, 404, "Not Found");
	}
	if (g.token) {
		tok = lws_get_urlarg_by_name(wsi, "token=", g.argbuf,
					     MAX_HTTP_HDR);
		if (!tok || strcmp(tok, g.token)) {
			g.handshakes_refused++;
			logmsg("refusing upgrade: %s token (401)",
			       tok ? "wrong" : "missing");
			return http_refuse(wsi, 401, UW_401_BODY);
		}
	}
	return 0;
}

/*
 * A plain GET of the socket URL (no upgrade): a bad token gets UW's 401 and
 * its text, as the upgrade would (the relay asks this way to learn the
 * reason after a refused upgrade); a good one gets 426.
 */
static int plain_socket_get(struct lws *wsi)
{
	const char *tok = g.token ? lws_get_urlarg_by_name(wsi, "token=", g.argbuf, MAX_HTTP_HDR) : NULL;

	if ((g.refuse_count && g.refuse_status == 401) || (g.token && (!tok || strcmp(tok, g.token))))
		http_refuse(wsi, 401, UW_401_BODY);
	else
		http_refuse(wsi, 426, "Upgrade Required");
	return -1;
}

/* ------------------------------------------------------- control API */

/* a whole answer in one write (lws buffers what the socket does not take);
 * retry_after NULL or "" sends no Retry-After header */
static int http_reply_ex(struct lws *wsi, int status, const char *ctype,
			 const char *body, size_t blen, const char *retry_after)
{
	unsigned char hdr[LWS_PRE + 512], *p = hdr + LWS_PRE,
		      *end = hdr + sizeof(hdr) - 1;
	size_t hlen;
	unsigned char *out;
	char cl[24], sl[64];
	int n, r, sn;

	/* our own status line: lws 4.1.6 has no reason phrase for 422/429 */
	sn = snprintf(sl, sizeof(sl), "HTTP/1.1 %d %s", status,
		      reason_phrase(status));
	n = snprintf(cl, sizeof(cl), "%zu", blen);
	if (lws_add_http_header_by_name(wsi, NULL, (unsigned char *)sl, sn,
					&p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
					 (const unsigned char *)ctype,
					 (int)strlen(ctype), &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
					 (unsigned char *)"no-store", 8,
					 &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH,
					 (unsigned char *)cl, n, &p, end) ||
	    (retry_after && *retry_after &&
	     lws_add_http_header_by_name(wsi,
					 (const unsigned char *)"retry-after:",
					 (const unsigned char *)retry_after,
					 (int)strlen(retry_after), &p, end)) ||
	    lws_finalize_http_header(wsi, &p, end))
		return -1;
	hlen = (size_t)(p - (hdr + LWS_PRE));
	out = malloc(LWS_PRE + hlen + blen);
	if (!out)
		return -1;
	memcpy(out + LWS_PRE, hdr + LWS_PRE, hlen);
	memcpy(out + LWS_PRE + hlen, body, blen);
	r = lws_write(wsi, out + LWS_PRE, hlen + blen, LWS_WRITE_HTTP_FINAL);
	free(out);
	if (r != (int)(hlen + blen))
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int http_reply(struct lws *wsi, int status, const char *body)
{
	return http_reply_ex(wsi, status, "application/json", body,
			     strlen(body), NULL);
}

static int reply_json(struct lws *wsi, int status, cJSON *j)
{
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;
	int r;

	cJSON_Delete(j);
	if (!s)
		return http_reply(wsi, 500, "{\"error\":\"out of memory\"}");
	r = http_reply(wsi, status, s);
	free(s);
	return r;
}

static int bad_request(struct lws *wsi, const char *why)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "error", why);
	return reply_json(wsi, 400, j);
}

/* copy of url arg `name` (no '='), or NULL; valid until the next call */
static const char *arg(struct lws *wsi, const char *name)
{
	char key[40];

	snprintf(key, sizeof(key), "%s=", name);
	return lws_get_urlarg_by_name(wsi, key, g.argbuf, MAX_HTTP_HDR);
}

/* integer arg; returns 0 ok, 1 absent (def used), -1 invalid */
static int arg_ll(struct lws *wsi, const char *name, long long lo,
		  long long hi, long long def, long long *out)
{
	const char *s = arg(wsi, name);
	char *e;
	long long v;

	*out = def;
	if (!s)
		return 1;
	errno = 0;
	v = strtoll(s, &e, 10);
	if (!*s || *e || errno || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int arg_bool(struct lws *wsi, const char *name, int *out)
{
	long long v;

	if (arg_ll(wsi, name, 0, 1, 0, &v) < 0)
		return -1;
	*out = (int)v;
	return 0;
}

/* channel arg into buf; 0 ok */
static int arg_chan(struct lws *wsi, char *buf)
{
	const char *s = arg(wsi, "channel");

	if (!s || !*s || strlen(s) > MAX_CHAN_NAME)
		return -1;
	strcpy(buf, s);
	return 0;
}

/* queue a publish batch on every live connection that has `chan` joined */
static int publish(const char *chan, uint64_t count, size_t size)
{
	struct conn *c;
	int m = 0;

	for (c = g.conns; c; c = c->next) {
		struct chan *ch;
		struct pub_batch *b;

		if (c->docs || c->closing || !(ch = chan_find(c, chan)) ||
		    !ch->joined)
			continue;
		m++;
		if (!count)
			continue;
		if (ch->pub_tail && ch->pub_tail->size == size) {
			ch->pub_tail->count += count;
		} else {
			b = calloc(1, sizeof(*b));
			if (!b)
				continue;
			b->count = count;
			b->size = size;
			if (ch->pub_tail)
				ch->pub_tail->next = b;
			else
				ch->pub_head = b;
			ch->pub_tail = b;
		}
		conn_kick(c);
	}
	return m;
}

static int count_joined(const char *chan)
{
	struct conn *c;
	struct chan *ch;
	int m = 0;

	for (c = g.conns; c; c = c->next)
		if (!c->docs && !c->closing && (ch = chan_find(c, chan)) &&
		    ch->joined)
			m++;
	return m;
}

/* ------------------------------------------------ congress trades (REST) */

/* add n rows at the top (newest), filed `days_ago` days before today */
static int congress_add(long n, int days_ago)
{
	long i;

	for (i = 0; i < n; i++) {
		struct congress_row *r = &g.congress[g.congress_head];

		free(r->json);		/* the oldest row drops out */
		if (gen_congress_row(r, g.congress_k + 1, days_ago)) {
			memset(r, 0, sizeof(*r));
			logmsg("out of memory making a congress row");
			return -1;
		}
		g.congress_k++;
		g.congress_head = (g.congress_head + 1) % CONGRESS_KEEP;
		if (g.congress_n < CONGRESS_KEEP)
			g.congress_n++;
	}
	return 0;
}

/* the start-up rows: row 1 is the oldest, filed a few days ago */
static void congress_init(long n)
{
	long i;

	for (i = 0; i < n; i++)
		if (congress_add(1, (int)((n - 1 - i) / 3)))
			break;
}

static void congress_tick(lws_sorted_usec_list_t *sul)
{
	int64_t now = mono_us();
	double dt = (double)(now - g.congress_last_tick) / 1e6;
	long k;

	(void)sul;
	g.congress_last_tick = now;
	if (dt > 1.0)
		dt = 1.0;
	if (dt < 0)
		dt = 0;
	g.congress_acc += g.congress_rate * dt;
	k = (long)g.congress_acc;
	g.congress_acc -= (double)k;
	if (k)
		congress_add(k, 0);
	lws_sul_schedule(g.ctx, 0, &g.congress_sul, congress_tick,
			 CONGRESS_TICK_US);
}

static void congress_free(void)
{
	int i;

	for (i = 0; i < CONGRESS_KEEP; i++) {
		free(g.congress[i].json);
		g.congress[i].json = NULL;
	}
	g.congress_n = g.congress_head = 0;
}

/* copy s into out (cap bytes), with the --token value and any token=
 * value replaced by "***": the stats never show a secret */
static void mask_secrets(const char *s, char *out, size_t cap)
{
	size_t o = 0, tl = g.token ? strlen(g.token) : 0;

	while (*s && o + 4 < cap) {
		if (tl && !strncmp(s, g.token, tl)) {
			memcpy(out + o, "***", 3);
			o += 3;
			s += tl;
			continue;
		}
		if (!strncasecmp(s, "token=", 6)) {
			if (o + 10 >= cap)
				break;
			memcpy(out + o, s, 6);
			o += 6;
			s += 6;
			memcpy(out + o, "***", 3);
			o += 3;
			while (*s && *s != '&')
				s++;
			continue;
		}
		out[o++] = *s++;
	}
	out[o] = '\0';
}

static void rest_log_push(const char *path, const struct rest_req *q,
			  int auth_ok, double delay)
{
	struct rest_log_ent *e = &g.rest_log[g.rest_log_head];
	char shown[1024];

	free(e->path);
	mask_secrets(path, shown, sizeof(shown));
	e->path = strdup(shown);
	e->t = (double)mono_us() / 1e6;
	e->status = q->status;
	e->garbage = q->garbage;
	e->auth_ok = auth_ok;
	e->delay = delay;
	g.rest_log_head = (g.rest_log_head + 1) % REST_LOGN;
	if (g.rest_log_n < REST_LOGN)
		g.rest_log_n++;
}

static void rest_log_clear(void)
{
	int i;

	for (i = 0; i < REST_LOGN; i++) {
		free(g.rest_log[i].path);
		g.rest_log[i].path = NULL;
	}
	g.rest_log_head = g.rest_log_n = 0;
}

static cJSON *rest_log_json(void)
{
	cJSON *a = cJSON_CreateArray();
	int i, k = (g.rest_log_head - g.rest_log_n + REST_LOGN) % REST_LOGN;

	for (i = 0; a && i < g.rest_log_n; i++, k = (k + 1) % REST_LOGN) {
		const struct rest_log_ent *e = &g.rest_log[k];
		cJSON *o = cJSON_CreateObject();

		if (!o)
			break;
		cJSON_AddItemToArray(a, o);
		cJSON_AddNumberToObject(o, "t", e->t);
		cJSON_AddNumberToObject(o, "status", e->status);
		cJSON_AddStringToObject(o, "path", e->path ? e->path : "");
		cJSON_AddBoolToObject(o, "auth_ok", e->auth_ok);
		if (e->garbage)
			cJSON_AddNumberToObject(o, "garbage", e->garbage);
		if (e->delay > 0)
			cJSON_AddNumberToObject(o, "delay", e->delay);
	}
	return a;
}

/* "Authorization: Bearer T" with T == --token (without --token: any T) */
static int rest_auth_ok(struct lws *wsi)
{
	char h[4096];
	const char *t;
	int n = lws_hdr_copy(wsi, h, sizeof(h), WSI_TOKEN_HTTP_AUTHORIZATION);

	if (n <= 7 || strncasecmp(h, "Bearer ", 7))
		return 0;
	for (t = h + 7; *t == ' '; t++)
		;
	if (!*t)
		return 0;
	return g.token ? !strcmp(t, g.token) : 1;
}

/* the request's path and query as sent (lws has url-decoded the args) */
static void rest_path(struct lws *wsi, const char *path, char *out,
		      size_t cap)
{
	size_t o;
	int i, n;

	snprintf(out, cap, "%s", path);
	o = strlen(out);
	for (i = 0; o + 2 < cap; i++) {
		n = lws_hdr_copy_fragment(wsi, out + o + 1, (int)(cap - o - 1),
					  WSI_TOKEN_HTTP_URI_ARGS, i);
		if (n < 0)
			break;
		out[o] = i ? '&' : '?';
		o += (size_t)n + 1;
	}
	out[o < cap ? o : cap - 1] = '\0';
}

static int valid_date(const char *s)
{
	int i;

	if (strlen(s) != 10)
		return 0;
	for (i = 0; i < 10; i++)
		if (i == 4 || i == 7 ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
			return 0;
	return 1;
}

/* decide what a request to REST_PATH gets: fault, 401, 422 or the rows */
static void rest_decide(struct lws *wsi, int auth_ok, struct rest_req *q,
			double *delay)
{
	const char *s;
	long long v;

	memset(q, 0, sizeof(*q));
	q->status = 200;
	q->limit = REST_LIMIT_DEF;
	*delay = 0;

	if (g.rest_fault_count) {
		if (g.rest_fault_count > 0)
			g.rest_fault_count--;
		if (g.rest_fault_status >= 0) {
			q->status = g.rest_fault_status;
			snprintf(q->retry_after, sizeof(q->retry_after), "%s",
				 g.rest_retry_after);
			return;
		}
		/* these two change a 200 only (a 401 or 422 stays) */
		q->garbage = g.rest_fault_garbage;
		*delay = g.rest_fault_delay;
	}
	if (g.token && !auth_ok) {
		q->garbage = 0;
		q->status = 401;
		return;
	}
	if (arg_ll(wsi, "limit", 1, REST_LIMIT_MAX, REST_LIMIT_DEF, &v) < 0) {
		q->garbage = 0;
		q->status = 422;
		q->why = "limit must be an integer from 1 to 200";
		return;
	}
	q->limit = (int)v;
	s = arg(wsi, "ticker");
	if (s && strlen(s) >= sizeof(q->ticker)) {
		q->garbage = 0;
		q->status = 422;
		q->why = "ticker is too long";
		return;
	}
	snprintf(q->ticker, sizeof(q->ticker), "%s", s ? s : "");
	s = arg(wsi, "date");
	if (s && *s && !valid_date(s)) {
		q->garbage = 0;
		q->status = 422;
		q->why = "date must be YYYY-MM-DD";
		return;
	}
	snprintf(q->date, sizeof(q->date), "%s", s ? s : "");
}

static const char *rest_error_code(int status)
{
	switch (status) {
	case 401: return "unauthorized";
	case 403: return "forbidden";
	case 404: return "not_found";
	case 422: return "invalid_params";
	case 429: return "too_many_requests";
	case 500: return "internal_server_error";
	case 502: return "bad_gateway";
	case 503: return "service_unavailable";
	case 504: return "gateway_timeout";
	default: return "error";
	}
}

static const char *rest_error_message(int status)
{
	switch (status) {
	case 401: return "Missing or invalid API token. Send it as "
			 "'Authorization: Bearer <token>'.";
	case 403: return "Your subscription does not include this endpoint.";
	case 429: return "Too many requests. Please slow down.";
	case 500: return "Something went wrong on our side.";
	case 503: return "The service is temporarily unavailable.";
	default: return "uwsim: injected fault";
	}
}

/* the rows a request gets, newest first, as {"data":[...]} into b */
static void rest_rows(struct sb *b, const struct rest_req *q)
{
	int i, k, sent = 0;

	sb_puts(b, "{\"data\":[");
	for (i = 0; i < g.congress_n && sent < q->limit; i++) {
		const struct congress_row *r;

		k = (g.congress_head - 1 - i + 2 * CONGRESS_KEEP) %
		    CONGRESS_KEEP;
		r = &g.congress[k];
		if (!r->json ||
		    (q->ticker[0] && strcasecmp(q->ticker, r->ticker)) ||
		    (q->date[0] && strcmp(r->filed, q->date) > 0))
			continue;
		if (sent++)
			sb_putc(b, ',');
		sb_putn(b, r->json, r->len);
	}
	sb_puts(b, "]}");
}

static int rest_answer(struct lws *wsi, const struct rest_req *q)
{
	struct sb b;
	int r;

	if (!q->status)
		return -1;		/* the hang-up fault: no answer at all */
	sb_init(&b, 0);
	if (q->status != 200) {
		sb_puts(&b, "{\"code\":");
		sb_json_str(&b, rest_error_code(q->status));
		sb_puts(&b, ",\"message\":");
		sb_json_str(&b, q->why ? q->why : rest_error_message(q->status));
		sb_putc(&b, '}');
	} else if (q->garbage == 1) {
		/* an answer cut in the middle: not JSON at all */
		struct rest_req full = *q;

		full.garbage = 0;
		rest_rows(&b, &full);
		b.len = b.len > 9 ? b.len / 2 : 7;
		/* cut between characters: malformed JSON, still UTF-8 */
		while (!b.oom && b.len > 1 && (b.base[b.len] & 0xc0) == 0x80)
			b.len--;
		if (!b.oom)
			b.base[b.len] = '\0';
	} else if (q->garbage == 2) {
		sb_puts(&b, "{\"data\":\"nope\"}");
	} else if (q->garbage == 3) {
		sb_puts(&b, "{\"data\":[1,\"two\",null,[3],true]}");
	} else {
		rest_rows(&b, q);
	}
	if (b.oom) {
		sb_free(&b);
		return -1;
	}
	r = http_reply_ex(wsi, q->status, "application/json; charset=utf-8",
			  sb_data(&b), b.len, q->retry_after);
	sb_free(&b);
	return r;
}

static void rest_release(lws_sorted_usec_list_t *sul)
{
	struct pss *pss = lws_container_of(sul, struct pss, sul);

	pss->held = 2;
	lws_callback_on_writable(pss->wsi);
}

/* GET REST_PATH: count, decide, log, answer now or after the delay */
static int rest_request(struct lws *wsi, struct pss *pss, const char *path)
{
	char shown[1024];
	struct rest_req q;
	double delay;
	int auth_ok = rest_auth_ok(wsi);

	g.rest_requests++;
	rest_path(wsi, path, shown, sizeof(shown));
	rest_decide(wsi, auth_ok, &q, &delay);
	rest_log_push(shown, &q, auth_ok, delay);
	if (g.verbose)
		logmsg("rest %s: %d%s%s", REST_PATH, q.status,
		       q.garbage ? " (garbage)" : "",
		       auth_ok ? "" : " (no valid token)");
	if (delay > 0 && pss) {
		pss->wsi = wsi;
		pss->req = q;
		pss->held = 1;
		lws_sul_schedule(g.ctx, 0, &pss->sul, rest_release,
				 (lws_usec_t)(delay * 1e6));
		return 0;
	}
	return rest_answer(wsi, &q);
}

static cJSON *rest_fault_json(void)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddNumberToObject(j, "count", (double)g.rest_fault_count);
	if (g.rest_fault_count && g.rest_fault_status >= 0)
		cJSON_AddNumberToObject(j, "status", g.rest_fault_status);
	if (g.rest_fault_count && g.rest_fault_garbage)
		cJSON_AddNumberToObject(j, "garbage", g.rest_fault_garbage);
	if (g.rest_fault_count && g.rest_fault_delay > 0)
		cJSON_AddNumberToObject(j, "delay", g.rest_fault_delay);
	if (g.rest_fault_count && g.rest_retry_after[0])
		cJSON_AddStringToObject(j, "retry_after", g.rest_retry_after);
	return j;
}

static void rest_fault_clear(void)
{
	g.rest_fault_count = 0;
	g.rest_fault_status = -1;
	g.rest_fault_garbage = 0;
	g.rest_fault_delay = 0;
	g.rest_retry_after[0] = '\0';
}

static cJSON *stats_json(void)
{
	cJSON *j = cJSON_CreateObject(), *joined;
	struct conn *c;
	struct chan *ch;

	cJSON_AddNumberToObject(j, "connections", g.nconns);
	cJSON_AddNumberToObject(j, "handshakes_ok", (double)g.handshakes_ok);
	cJSON_AddNumberToObject(j, "handshakes_refused",
				(double)g.handshakes_refused);
	cJSON_AddNumberToObject(j, "joins", (double)g.joins);
	cJSON_AddNumberToObject(j, "leaves", (double)g.leaves);
	cJSON_AddNumberToObject(j, "frames_sent", (double)g.frames_sent);
	cJSON_AddNumberToObject(j, "acks_sent", (double)g.acks_sent);
	cJSON_AddNumberToObject(j, "raw_sent", (double)g.raw_sent);
	cJSON_AddNumberToObject(j, "pongs", (double)g.pongs);
	cJSON_AddStringToObject(j, "last_pong", g.last_pong);
	{
		cJSON *cc = cJSON_AddArrayToObject(j, "client_close_codes");

		for (int i = 0; cc && i < g.n_close_codes; i++)
			cJSON_AddItemToArray(cc, cJSON_CreateNumber(g.close_codes[i]));
	}
	cJSON_AddNumberToObject(j, "bad_client_msgs",
				(double)g.bad_client_msgs);
	joined = cJSON_AddObjectToObject(j, "joined");
	for (c = g.conns; joined && c; c = c->next)
		for (ch = c->chans; ch; ch = ch->next) {
			cJSON *n;

			if (!ch->joined)
				continue;
			n = cJSON_GetObjectItemCaseSensitive(joined, ch->name);
			if (n)
				cJSON_SetNumberValue(n, n->valuedouble + 1);
			else
				cJSON_AddNumberToObject(joined, ch->name, 1);
		}
	cJSON_AddItemToObject(j, "join_log", log_json(&g.join_log));
	cJSON_AddItemToObject(j, "leave_log", log_json(&g.leave_log));
	cJSON_AddBoolToObject(j, "silent", g.silent);
	cJSON_AddBoolToObject(j, "noack", g.noack);
	cJSON_AddStringToObject(j, "ackstatus", g.ackstatus);
	cJSON_AddNumberToObject(j, "refuse_count", (double)g.refuse_count);
	cJSON_AddNumberToObject(j, "refuse_status", g.refuse_status);
	cJSON_AddNumberToObject(j, "rest_requests", (double)g.rest_requests);
	cJSON_AddItemToObject(j, "rest_log", rest_log_json());
	cJSON_AddItemToObject(j, "rest_fault", rest_fault_json());
	cJSON_AddNumberToObject(j, "congress_rows", (double)g.congress_k);
	cJSON_AddNumberToObject(j, "congress_rate", g.congress_rate);
	return j;
}

static void set_silent(int on)
{
	struct conn *c;

	if (g.silent == on)
		return;
	g.silent = on;
	for (c = g.conns; c; c = c->next) {
		if (c->closing)
			continue;
		lws_rx_flow_control(c->wsi, !on);
		if (!on)
			conn_kick(c);
	}
	logmsg("silent %s", on ? "on" : "off");
}

static int cut_all(int mode)
{
	struct conn *c;
	int m = 0;

	for (c = g.conns; c; c = c->next) {
		if (c->closing)
			continue;
		m++;
		c->closing = mode;
		if (mode == CUT_DROP) {
			int fd = lws_get_socket_fd(c->wsi);
			struct linger lg = { 1, 0 };

			/* abrupt: no close frame, no TLS close_notify; RST
			 * when lws closes the fd */
			if (fd >= 0) {
				setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg,
					   sizeof(lg));
				shutdown(fd, SHUT_RDWR);
			}
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK,
					LWS_TO_KILL_ASYNC);
		} else {
			/* if the close frame can't go out in 3 s (client
			 * not reading), just kill it */
			lws_rx_flow_control(c->wsi, 1);
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 3);
			lws_callback_on_writable(c->wsi);
		}
	}
	logmsg("cut %d connection(s) (%s)", m,
	       mode == CUT_DROP ? "drop" : "close");
	return m;
}

static void reset_all(void)
{
	g.handshakes_ok = g.handshakes_refused = g.joins = g.leaves = 0;
	g.frames_sent = g.bad_client_msgs = g.acks_sent = g.raw_sent = g.pongs = 0;
	g.last_pong[0] = '\0';
	g.n_close_codes = 0;
	log_clear(&g.join_log);
	log_clear(&g.leave_log);
	set_silent(0);
	g.noack = 0;
	strcpy(g.ackstatus, "ok");
	g.refuse_count = 0;
	g.refuse_status = 503;
	rates_clear();
	rest_fault_clear();
	g.rest_requests = 0;
	rest_log_clear();
	logmsg("reset");
}

static int ctl(struct lws *wsi, const char *path)
{
	char chan[MAX_CHAN_NAME + 1];
	long long a, b;
	cJSON *j;
	int m, on;

	if (!strcmp(path, "/ctl/stats"))
		return reply_json(wsi, 200, stats_json());

	if (!strcmp(path, "/ctl/ping")) {
		j = cJSON_CreateObject();
		cJSON_AddBoolToObject(j, "ok", 1);
		return reply_json(wsi, 200, j);
	}

	if (!strcmp(path, "/ctl/publish")) {
		if (arg_chan(wsi, chan))
			return bad_request(wsi, "channel required");
		if (arg_ll(wsi, "count", 0, 1000000000LL, 1, &a) < 0)
			return bad_request(wsi, "bad count");
		if (arg_ll(wsi, "size", 0, MAX_FRAME_BYTES, (long long)g.size,
			   &b) < 0)
			return bad_request(wsi, "bad size");
		m = publish(chan, (uint64_t)a, (size_t)b);
		j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "queued", (double)a);
		cJSON_AddNumberToObject(j, "connections", m);
		return reply_json(wsi, 200, j);
	}

	if (!strcmp(path, "/ctl/send_big")) {
		if (arg_chan(wsi, chan))
			return bad_request(wsi, "channel required");
		if (arg_ll(wsi, "bytes", 1, MAX_FRAME_BYTES, 0, &b))
			return bad_request(wsi, "bytes required (1..64MiB)");
		m = publish(chan, 1, (size_t)b);
		j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "queued", 1);
		cJSON_AddNumberToObject(j, "connections", m);
		return reply_json(wsi, 200, j);
	}

	if (!strcmp(path, "/ctl/rate")) {
		const char *rs;
		struct chan_rate **pp, *r;
		double rate;
		char *e;

		if (arg_chan(wsi, chan))
			return bad_request(wsi, "channel required");
		rs = arg(wsi, "rate");
		if (!rs || !*rs)
			return bad_request(wsi, "rate required");
		errno = 0;
		rate = strtod(rs, &e);
		if (*e || errno || !(rate >= 0 && rate <= 10000000))
			return bad_request(wsi, "bad rate");
		for (pp = &g.rates; *pp; pp = &(*pp)->next)
			if (!strcmp((*pp)->name, chan))
				break;
		if (*pp && rate == 0) {
			r = *pp;
			*pp = r->next;
			free(r->name);
			free(r);
		} else if (*pp)
			(*pp)->rate = rate;
		else if (rate > 0) {
			r = calloc(1, sizeof(*r));
			if (!r || !(r->name = strdup(chan))) {
				free(r);
				return http_reply(wsi, 500, "{}");
			}
			r->rate = rate;
			r->next = g.rates;
			g.rates = r;
		}
		rate_kick();
		logmsg("rate %s = %g/s", chan, rate);
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "channel", chan);
		cJSON_AddNumberToObject(j, "rate", rate);
		cJSON_AddNumberToObject(j, "connections", count_joined(chan));
		return reply_json(wsi, 200, j);
	}

	if (!strcmp(path, "/ctl/send")) {
		const char *t;
		struct conn *c;
		size_t tl;
		int bin;

		if (arg_bool(wsi, "binary", &bin))
			return bad_request(wsi, "bad binary");
		t = arg(wsi, "text");
		if (!t)
			return bad_request(wsi, "text required");
		tl = strlen(t);
		m = 0;
		for (c = g.conns; c; c = c->next) {
			if (c->docs || c->closing)
				continue;
			if (!out_push(c, bin ? OUT_BINARY : OUT_TEXT, t, tl,
				      NULL, 0))
				m++;
			conn_kick(c);
		}
		j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "queued", 1);
		cJSON_AddNumberToObject(j, "connections", m);
		cJSON_AddNumberToObject(j, "bytes", (double)tl);
		return reply_json(wsi, 200, j);
	}

	if (!strcmp(path, "/ctl/raw")) {
		const char *h = arg(wsi, "hex");
		unsigned char raw[512];
		size_t rl = 0;
		struct conn *c;

		if (!h || strlen(h) % 2 || strlen(h) / 2 > sizeof(raw))
			return bad_request(wsi, "hex required (even length, at most 1024 digits)");
		for (; h[0]; h += 2) {
			unsigned v;

			if (sscanf(h, "%2x", &v) != 1)
				return bad_request(wsi, "bad hex");
			raw[rl++] = (unsigned char)v;
		}
		m = 0;
		for (c = g.conns; c; c = c->next) {
			if (c->docs || c->closing)
				continue;
			if (!out_push(c, OUT_RAW, (const char *)raw, rl, NULL, 0))
				m++;
			conn_kick(c);
		}
		j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "queued", 1);
		cJSON_AddNumberToObject(j, "connections", m);
		return reply_json(wsi, 200, j);
	}

	if (!strcmp(path, "/ctl/cut")) {
		const char *mode = arg(wsi, "mode");
		int md;

		if (!mode || !strcmp(mode, "close"))
			md = CUT_CLOSE;
		else if (!strcmp(mode, "drop"))
			md = CUT_DROP;
		else
			return bad_request(wsi, "mode must be close or drop");
		m = cut_all(md);
		j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "cut", m);
		cJSON_AddStringToObject(j, "mode",
					md == CUT_DROP ? "drop" : "close");
		return reply_json(wsi, 200, j);
	}

	if (!strcmp(path, "/ctl/silent")) {
		if (!arg(wsi, "on") || arg_bool(wsi, "on", &on))
			return bad_request(wsi, "on=1|0 required");
		set_silent(on);
		j = cJSON_CreateObject();
		cJSON_AddBoolToObject(j, "silent", on);
		return reply_json(wsi, 200, j);
	}

	if (!strcmp(path, "/ctl/noack")) {
		if (!arg(wsi, "on") || arg_bool(wsi, "on", &on))
			return bad_request(wsi, "on=1|0 required");
		g.noack = on;
		logmsg("noack %s", on ? "on" : "off");
		j = cJSON_CreateObject();
		cJSON_AddBoolToObject(j, "noack", on);
		return reply_json(wsi, 200, j);
	}

	if (!strcmp(path, "/ctl/ackstatus")) {
		const char *s = arg(wsi, "status");

		if (!s || !*s || strlen(s) >= sizeof(g.ackstatus))
			return bad_request(wsi, "status required (1..64 chars)");
		strcpy(g.ackstatus, s);
		logmsg("ack status set");
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "ackstatus", g.ackstatus);
		return reply_json(wsi, 200, j);
	}

	if (!strcmp(path, "/ctl/refuse")) {
		if (arg_ll(wsi, "count", -1, 1000000000LL, 0, &a))
			return bad_request(wsi, "count required (-1, 0, K)");
		if (arg_ll(wsi, "status", 0, 599, 503, &b) < 0 ||
		    (b && b < 100))
			return bad_request(wsi, "bad status (0 or 100..599)");
		g.refuse_count = (long)a;
		g.refuse_status = (int)b;
		logmsg("refuse count %ld status %d", g.refuse_count,
		       g.refuse_status);
		j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "refuse_count", (double)a);
		cJSON_AddNumberToObject(j, "refuse_status", (double)b);
		return reply_json(wsi, 200, j);
	}

	if (!strcmp(path, "/ctl/congress_add")) {
		if (arg_ll(wsi, "count", 0, 100000, 1, &a) < 0)
			return bad_request(wsi, "bad count (0..100000)");
		if (congress_add((long)a, 0))
			return http_reply(wsi, 500, "{\"error\":\"out of memory\"}");
		logmsg("congress: %lld row(s) added, newest sim_row %llu", a,
		       (unsigned long long)g.congress_k);
		j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "added", (double)a);
		cJSON_AddNumberToObject(j, "newest", (double)g.congress_k);
		cJSON_AddNumberToObject(j, "held", g.congress_n);
		return reply_json(wsi, 200, j);
	}

	if (!strcmp(path, "/ctl/congress_rate")) {
		const char *rs = arg(wsi, "rate");
		double rate;
		char *e;

		if (!rs || !*rs)
			return bad_request(wsi, "rate required");
		errno = 0;
		rate = strtod(rs, &e);
		if (*e || errno || !(rate >= 0 && rate <= 10000))
			return bad_request(wsi, "bad rate (0..10000)");
		g.congress_rate = rate;
		logmsg("congress rate %g rows/s", rate);
		j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "congress_rate", rate);
		return reply_json(wsi, 200, j);
	}

	if (!strcmp(path, "/ctl/rest")) {
		const char *ra, *ds;
		long long st = -1, gb = 0;
		double delay = 0;
		int kinds = 0;
		char *e;

		if (arg_ll(wsi, "count", -1, 1000000000LL, 1, &a) < 0)
			return bad_request(wsi, "bad count (-1, 0, K)");
		if (arg_ll(wsi, "status", 0, 599, -1, &st) < 0 ||
		    (st > 0 && st < 300))
			return bad_request(wsi, "bad status (0 or 300..599)");
		if (arg_ll(wsi, "garbage", 1, 3, 0, &gb) < 0)
			return bad_request(wsi, "bad garbage (1, 2 or 3)");
		ds = arg(wsi, "delay");
		if (ds) {
			errno = 0;
			delay = strtod(ds, &e);
			if (!*ds || *e || errno || !(delay > 0 && delay <= 3600))
				return bad_request(wsi, "bad delay (seconds, "
						   "0 < delay <= 3600)");
		}
		kinds = (st >= 0) + (gb > 0) + (delay > 0);
		if (a && kinds != 1)
			return bad_request(wsi, "give one of status, garbage, "
					   "delay (or count=0)");
		ra = arg(wsi, "retry_after");
		if (ra && (strlen(ra) >= sizeof(g.rest_retry_after) ||
			   strpbrk(ra, "\r\n")))
			return bad_request(wsi, "bad retry_after (1..64 chars)");
		if (ra && st < 0)
			return bad_request(wsi, "retry_after needs status");
		rest_fault_clear();
		if (a) {
			g.rest_fault_count = (long)a;
			g.rest_fault_status = (int)st;
			g.rest_fault_garbage = (int)gb;
			g.rest_fault_delay = delay;
			snprintf(g.rest_retry_after,
				 sizeof(g.rest_retry_after), "%s",
				 ra ? ra : "");
		}
		logmsg("rest fault: count %ld status %d garbage %d delay %g%s%s",
		       g.rest_fault_count, g.rest_fault_status,
		       g.rest_fault_garbage, g.rest_fault_delay,
		       g.rest_retry_after[0] ? " retry-after " : "",
		       g.rest_retry_after);
		return reply_json(wsi, 200, rest_fault_json());
	}

	if (!strcmp(path, "/ctl/reset")) {
		reset_all();
		j = cJSON_CreateObject();
		cJSON_AddBoolToObject(j, "reset", 1);
		return reply_json(wsi, 200, j);
	}

	return http_reply(wsi, 404, "{\"error\":\"not found\"}");
}

/* ---------------------------------------------------------- callback */

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct pss *pss = user;
	struct conn *c;
	char uri[64];

	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return confirm_upgrade(wsi);

	case LWS_CALLBACK_HTTP:
		if (in && !strcmp((const char *)in, "/socket"))
			return plain_socket_get(wsi);
		if (in && !strcmp((const char *)in, REST_PATH))
			return rest_request(wsi, pss, REST_PATH);
		return ctl(wsi, in ? (const char *)in : "");

	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (pss && pss->held == 2) {
			pss->held = 0;
			return rest_answer(wsi, &pss->req);
		}
		break;

	case LWS_CALLBACK_CLOSED_HTTP:
		if (pss && pss->held) {
			lws_sul_cancel(&pss->sul);
			pss->held = 0;
		}
		break;

	case LWS_CALLBACK_ESTABLISHED:
		c = calloc(1, sizeof(*c));
		if (!c)
			return -1;
		c->wsi = wsi;
		c->docs = lws_hdr_copy(wsi, uri, sizeof(uri),
				       WSI_TOKEN_GET_URI) > 0 &&
			  !strcmp(uri, "/api/socket");
		c->next = g.conns;
		if (g.conns)
			g.conns->prev = c;
		g.conns = c;
		g.nconns++;
		pss->c = c;
		g.handshakes_ok++;
		if (g.silent)
			lws_rx_flow_control(wsi, 0);
		logmsg("connection open%s (%d live)",
		       c->docs ? " on /api/socket" : "", g.nconns);
		break;

	case LWS_CALLBACK_RECEIVE:
		c = pss ? pss->c : NULL;
		if (!c)
			break;
		if (lws_is_first_fragment(wsi)) {
			c->rxlen = 0;
			c->rx_overflow = 0;
			c->rx_binary = lws_frame_is_binary(wsi);
		}
		if (len && !c->rx_overflow) {
			if (c->rxlen + len > MAX_CLIENT_MSG)
				c->rx_overflow = 1;
			else {
				if (!c->rx) {
					c->rx = malloc(MAX_CLIENT_MSG);
					if (!c->rx)
						return -1;
				}
				memcpy(c->rx + c->rxlen, in, len);
				c->rxlen += len;
			}
		}
		if (lws_is_final_fragment(wsi) &&
		    !lws_remaining_packet_payload(wsi)) {
			if (c->rx_binary || c->rx_overflow || !c->rxlen)
				g.bad_client_msgs++;
			else
				client_msg(c, (const char *)c->rx, c->rxlen);
			c->rxlen = 0;
		}
		break;

	case LWS_CALLBACK_SERVER_WRITEABLE:
		c = pss ? pss->c : NULL;
		if (!c)
			break;
		return conn_writable(c);

	case LWS_CALLBACK_RECEIVE_PONG:
		g.pongs++;
		if (len >= sizeof(g.last_pong))
			len = sizeof(g.last_pong) - 1;
		memcpy(g.last_pong, in, len);
		g.last_pong[len] = '\0';
		break;

	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (g.n_close_codes < (int)(sizeof(g.close_codes) / sizeof(g.close_codes[0])))
			g.close_codes[g.n_close_codes++] =
				len >= 2 ? ((unsigned char *)in)[0] << 8 | ((unsigned char *)in)[1] : 0;
		break;

	case LWS_CALLBACK_CLOSED:
		c = pss ? pss->c : NULL;
		if (!c)
			break;
		pss->c = NULL;
		conn_unlink(c);
		logmsg("connection closed (%d live)", g.nconns);
		conn_free(c);
		break;

	default:
		break;
	}

	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
	/* rx 4096: client messages are tiny; tx 64 KiB per send() so big
	 * frames drain quickly */
	{ "uw", callback, sizeof(struct pss), 4096, 0, NULL, 65536 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* ------------------------------------------------------------- main */

static void on_signal(int sig)
{
	(void)sig;
	g.stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: uwsim --port N [--tls-port N --cert FILE --key FILE] [--token T]\n"
"             [--rate R] [--size BYTES] [--record FILE] [--seed N]\n"
"             [--congress-rows N] [--congress-rate R]\n"
"             [--host 127.0.0.1] [--verbose]\n");
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
	char *e;
	double v;

	errno = 0;
	v = strtod(s, &e);
	if (!*s || *e || errno || !(v >= lo && v <= hi))
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "tls-port", required_argument, NULL, 'P' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "token", required_argument, NULL, 't' },
		{ "rate", required_argument, NULL, 'r' },
		{ "size", required_argument, NULL, 's' },
		{ "record", required_argument, NULL, 'R' },
		{ "seed", required_argument, NULL, 'S' },
		{ "host", required_argument, NULL, 'h' },
		{ "congress-rows", required_argument, NULL, 'C' },
		{ "congress-rate", required_argument, NULL, 'F' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 }
	};
	struct lws_context_creation_info info;
	uint64_t seed = 0;
	int have_seed = 0, have_port = 0, opt, ret = 0;
	struct sigaction sa;
	double v;

	g.host = "127.0.0.1";
	g.tls_port = -1;
	strcpy(g.ackstatus, "ok");
	g.refuse_status = 503;
	g.congress_init = 5;
	rest_fault_clear();

	while ((opt = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			if (parse_num(optarg, 0, 65535, &v))
				goto bad;
			g.port = (int)v;
			have_port = 1;
			break;
		case 'P':
			if (parse_num(optarg, 0, 65535, &v))
				goto bad;
			g.tls_port = (int)v;
			break;
		case 'c': g.cert = optarg; break;
		case 'k': g.key = optarg; break;
		case 't': g.token = optarg; break;
		case 'r':
			if (parse_num(optarg, 0, 1e7, &g.rate))
				goto bad;
			break;
		case 's':
			if (parse_num(optarg, 0, MAX_FRAME_BYTES, &v))
				goto bad;
			g.size = (size_t)v;
			break;
		case 'R': g.record_path = optarg; break;
		case 'S':
			if (parse_num(optarg, 0, 1.8e19, &v))
				goto bad;
			seed = strtoull(optarg, NULL, 10);
			have_seed = 1;
			break;
		case 'C':
			if (parse_num(optarg, 0, CONGRESS_KEEP, &v) ||
			    v != (double)(long)v)
				goto bad;
			g.congress_init = (long)v;
			break;
		case 'F':
			if (parse_num(optarg, 0, 10000, &g.congress_rate))
				goto bad;
			break;
		case 'h': g.host = optarg; break;
		case 'v': g.verbose = 1; break;
		case 'H': usage(stdout); return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc || !have_port ||
	    (g.tls_port >= 0 && (!g.cert || !g.key)))
		goto bad;

	if (!have_seed) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_sec * 1000000007ull ^
		       (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
	}
	rnd_seed(seed);
	congress_init(g.congress_init);

	if (g.record_path) {
		g.rec = fopen(g.record_path, "a");
		if (!g.rec) {
			logmsg("cannot open record file %s: %s", g.record_path,
			       strerror(errno));
			return 1;
		}
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: poll() gets EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_emit);

	sb_init(&g.fb, LWS_PRE);
	g.argbuf = malloc(MAX_HTTP_HDR);
	if (!g.argbuf) {
		ret = 1;
		goto done;
	}

	memset(&info, 0, sizeof(info));
	/* invalid UTF-8 in a client text frame fails the connection */
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
		       LWS_SERVER_OPTION_VALIDATE_UTF8;
	if (g.tls_port >= 0)
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.max_http_header_data2 = MAX_HTTP_HDR;
	g.ctx = lws_create_context(&info);
	if (!g.ctx) {
		logmsg("lws context creation failed");
		ret = 1;
		goto done;
	}

	memset(&info, 0, sizeof(info));
	info.port = g.port;
	info.iface = g.host;
	info.protocols = protocols;
	info.vhost_name = "uwsim-ws";
	info.options = 0;
	if (!strchr(g.host, ':'))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	g.vh = lws_create_vhost(g.ctx, &info);
	if (!g.vh) {
		logmsg("cannot listen on %s port %d", g.host, g.port);
		ret = 1;
		goto done;
	}

	if (g.tls_port >= 0) {
		info.port = g.tls_port;
		info.vhost_name = "uwsim-wss";
		info.ssl_cert_filepath = g.cert;
		info.ssl_private_key_filepath = g.key;
		info.alpn = "http/1.1";
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		g.vhs = lws_create_vhost(g.ctx, &info);
		if (!g.vhs) {
			logmsg("cannot start the wss listener on %s port %d "
			       "(check --cert/--key)", g.host, g.tls_port);
			ret = 1;
			goto done;
		}
	}

	printf("uwsim: ready ws=%d wss=%d\n", lws_get_vhost_listen_port(g.vh),
	       g.vhs ? lws_get_vhost_listen_port(g.vhs) : 0);
	fflush(stdout);

	lws_sul_schedule(g.ctx, 0, &g.hb_sul, heartbeat, HEARTBEAT_US);
	rate_kick();
	g.congress_last_tick = mono_us();
	lws_sul_schedule(g.ctx, 0, &g.congress_sul, congress_tick,
			 CONGRESS_TICK_US);

	while (!g.stop)
		if (lws_service(g.ctx, 0) < 0)
			break;

	logmsg("exiting");

done:
	if (g.ctx)
		lws_context_destroy(g.ctx);
	/* lws calls CLOSED for every live connection on destroy; anything
	 * left over would be a bug, but free it anyway */
	while (g.conns) {
		struct conn *c = g.conns;
		struct chan *ch;

		for (ch = c->chans; ch; ch = ch->next)
			memset(&ch->ack_sul, 0, sizeof(ch->ack_sul)); /* ctx gone */
		conn_unlink(c);
		conn_free(c);
	}
	rates_clear();
	log_clear(&g.join_log);
	log_clear(&g.leave_log);
	rest_log_clear();
	congress_free();
	sb_free(&g.fb);
	gen_cleanup();
	free(g.argbuf);
	if (g.rec)
		fclose(g.rec);
	return ret;

bad:
	usage(stderr);
	return 2;
}
