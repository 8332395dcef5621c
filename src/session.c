/* session.c: browser WebSocket sessions and the fan-out to them.
 *
 * A session holds a registry subscriber and a bounded queue of shared
 * frames. Fan-out only appends a reference to each subscriber's queue and
 * asks for WRITEABLE; the write happens there, several frames per callback
 * while the socket takes them. A subscriber whose queue would pass
 * clients.max_queue_bytes is dropped from fan-out at once, its queue freed,
 * and it is closed with CLOSE_SLOW_CONSUMER: it never slows the others or
 * the upstream read, and never pins more than the cap. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include "chname.h"
#include "climsg.h"
#include "clock.h"
#include "envelope.h"
#include "filtab.h"
#include "lathist.h"
#include "query.h"
#include "relay_state.h"
#include "deflate.h"
#include "session.h"
#include "tape_resume.h"
#include "sseenc.h"

_Static_assert(FRAME_PRE >= LWS_PRE, "frame headroom must cover LWS_PRE");

#define GENERIC_PATH "/api/stream/ws"

/* Where a client wants to resume from: ?since=SEQ[&epoch=E] or the
 * subscribe message's "since" and "epoch". */
struct resume {
	int has_since;
	uint64_t since;
	char epoch[17];		/* "" when not given */
};

/* Parses a decimal seq; returns 0 on success. */
static int
parse_seq(const char *p, uint64_t *out)
{
	uint64_t v = 0;

	if (!*p)
		return -1;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	return 0;
}


static void
last_left(struct reg_channel *ch, void *arg)
{
	relay_channel_changed(arg, ch);
}

/* Queues f for s. Returns 0, or -1 if s was closed as too slow. */
static int
push(struct session *s, struct frame *f)
{
	struct relay *r = s->relay;
	struct outq *q = s->n_tape ? &s->held : &s->q;

	if (s->close_code)
		return -1;
	if (outq_push(q, f, (size_t)r->cfg.max_queue_bytes + s->replay_bonus)) {
		r->slow_closed++;
		/* limited: anyone can open sockets that never read, and each
		 * one logged a line of its own */
		log_limited(&r->rl_clients, clock_mono_ms(), LOG_WARN,
			    "session: closing a subscriber whose send queue passed %lld bytes "
			    "(%u frames waiting; %llu closed so far)", (long long)r->cfg.max_queue_bytes,
			    s->q.count, (unsigned long long)r->slow_closed);
		outq_clear(&s->q);
		outq_clear(&s->held);
		session_close(s, CLOSE_SLOW_CONSUMER, "send queue overflow: client too slow");
		return -1;
	}
	if (q == &s->held)
		return 0;
	r->frames_out++;
	if (s->q.count == 1) {
		if (!r->batch_depth)
			lws_callback_on_writable(s->wsi);
		else if (!s->flush_queued) {
			s->flush_queued = 1;
			s->flush_next = r->flush_head;
			r->flush_head = s;
		}
	}
	return 0;
}

int
session_push(struct session *s, struct frame *f)
{
	return push(s, f);
}

void
session_release_held(struct session *s)
{
	while (!s->n_tape && s->held.count) {
		struct frame *f = frame_ref(outq_peek(&s->held));

		outq_pop(&s->held);
		if (push(s, f)) {
			frame_unref(f);
			break;
		}
		frame_unref(f);
	}
	outq_clear(&s->held);
}

/* ---- batched writes ----
 * Asking lws for WRITEABLE costs, per subscriber and frame, a POLLOUT
 * flag, a walk of poll() over every socket and a callback; at 1,000
 * subscribers × 100 frames/s that round trip was a quarter of the relay's
 * CPU (docs/BENCHMARKS.md). While a batch is open, a subscriber whose queue
 * becomes non-empty is listed instead, and the batch's end writes its queue
 * at once, coalesced as in WRITEABLE. What a socket cannot take now (or
 * what lws still holds of an earlier partial write) waits for WRITEABLE. */
void
session_batch_begin(struct relay *r)
{
	r->batch_depth++;
}

int
session_batch_end(struct relay *r)
{
	struct session *s, *next;
	int worked = r->flush_head != NULL;

	if (--r->batch_depth > 0)
		return 0;
	r->batch_depth = 0;
	for (s = r->flush_head; s; s = next) {
		next = s->flush_next;
		s->flush_next = NULL;
		s->flush_queued = 0;
		if (s->close_code || !s->q.count)
			continue;	/* session_close() asked for WRITEABLE itself */
		/* no poll() to ask if the socket has room: a write it cannot
		 * take is kept by lws (at most SCRATCH_BYTES, as from WRITEABLE),
		 * which then asks for WRITEABLE itself */
		if (lws_partial_buffered(s->wsi))
			lws_callback_on_writable(s->wsi);
		else if (session_writeable(s))
			lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	}
	r->flush_head = NULL;
	return worked;
}

/* A filtered subscriber gets the same shared frame as everyone else, or
 * nothing: its filter's entry is evaluated once for this frame whatever
 * the number of subscribers using it (filtab.h). Notices (seq 0) pass. */
void
session_fanout(struct relay *r, struct reg_channel *ch, struct frame *f)
{
	if (f->seq)
		filtab_round(&r->filters);
	for (uint32_t i = 0; i < ch->n_members; i++) {
		struct reg_member *m = ch->members[i];

		if (!m->sub->owner)	/* NULL: the tape's own subscription */
			continue;
		if (m->filter && f->seq && !filtab_pass(&r->filters, m->filter, f))
			continue;
		push(m->sub->owner, f);
	}
}

/* Drops the filters of all of s's memberships (before they go). */
static void
release_filters(struct session *s)
{
	for (uint16_t i = 0; i < s->sub.n; i++) {
		filtab_put(&s->relay->filters, s->sub.m[i]->filter);
		s->sub.m[i]->filter = NULL;
	}
}

/* Replays ch's history after rs->since to s, or says why it cannot. */
static void
replay(struct session *s, struct reg_channel *ch, const struct resume *rs)
{
	struct relay *r = s->relay;
	const struct history *h = &ch->hist;
	uint64_t first = history_first_seq(h), last = ch->seq;
	struct reg_member *m = registry_membership(&s->sub, ch);
	cJSON *o;

	if (rs->epoch[0] && strcmp(rs->epoch, relay_channel_epoch(r, ch))) {
		o = session_notice_new("gap", ch->name);
		cJSON_AddStringToObject(o, "reason", "epoch");
		cJSON_AddStringToObject(o, "message",
					"the relay restarted since that epoch: missed frames are not recoverable");
		session_send_notice(r, s, ch, o);
		return;
	}
	if (rs->since >= last)
		return;		/* nothing missed */
	if (!h->count || rs->since + 1 < first) {
		/* the tape sends what memory no longer holds (or says what is lost) */
		if (r->tape_reader && !tape_resume_start(s, ch, rs->since, h->count ? first : last + 1))
			goto memory;
		o = session_notice_new("gap", ch->name);
		cJSON_AddStringToObject(o, "reason", "too_old");
		cJSON_AddNumberToObject(o, "from", (double)(rs->since + 1));
		cJSON_AddNumberToObject(o, "to", (double)(h->count ? first - 1 : last));
		cJSON_AddStringToObject(o, "message", "these frames are no longer held: not recovered");
		session_send_notice(s->relay, s, NULL, o);
	}
memory:
	/* The replay may exceed the live queue cap by design: allow it once.
	 * A filtered subscriber gets only the frames its filter passes. */
	for (uint32_t i = history_index_after(h, rs->since); i < h->count; i++) {
		struct frame *f = history_at(h, i);

		if (m && m->filter) {
			filtab_round(&r->filters);
			if (!filtab_pass(&r->filters, m->filter, f))
				continue;
		}
		s->replay_bonus += frame_cost(f);
		if (push(s, f))
			return;
	}
}

void
session_close(struct session *s, uint16_t code, const char *reason)
{
	if (s->close_code)
		return;
	s->close_code = code;
	s->close_reason = reason;
	/* The close frame goes out from WRITEABLE; a peer that never lets us
	 * write is cut after a few seconds regardless. */
	if (!s->relay->stopping)	/* the grace period bounds it then, at O(1) */
		lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, 5);
	lws_callback_on_writable(s->wsi);
}

/* A channel name a client asked for, fit to echo in a notice: ASCII
 * (cJSON escapes the rest), any secret in it masked as in the log (a
 * client that put its token there gets "***"), cut to CHNAME_MAX; a long
 * one is not echoed at all. */
static void
echo_name(char shown[CHNAME_MAX + 1], const char *name, size_t len)
{
	char full[260];
	size_t n = 0;

	if (len < sizeof(full)) {
		memcpy(full, name, len);
		full[len] = '\0';
		log_mask(shown, CHNAME_MAX + 1, full);
		n = strlen(shown);
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)shown[i] >= 0x80)
			shown[i] = '?';
	shown[n] = '\0';
}

/* The subscribed notice; a filtered one names the canonical filter and
 * says that seqs jump where the filter held frames back (not a gap). */
static void
notice_subscribed(struct session *s, const char *chan, const struct reg_channel *ch,
		  const struct filtab_entry *fe)
{
	cJSON *o = session_notice_new("subscribed", chan);

	if (ch) {
		cJSON_AddNumberToObject(o, "seq", (double)ch->seq);
		cJSON_AddStringToObject(o, "upstream", relay_upstream_word(s->relay));
	}
	if (fe) {
		cJSON_AddStringToObject(o, "filter", fe->f.canon);
		cJSON_AddBoolToObject(o, "seq_jumps", 1);
	}
	/* under the channel's epoch: a client resumes with it */
	session_send_notice(s->relay, s, (struct reg_channel *)ch, o);
}

static void
subscribe(struct session *s, const char *name, size_t len, const struct resume *rs,
	  const char *ftxt, size_t flen)
{
	struct relay *r = s->relay;
	struct reg_channel *ch;
	struct reg_member *m;
	struct filtab_entry *fe;
	char chan[CHNAME_MAX + 1], err[FILTER_ERR_MAX];
	int rc;

	if (len > CHNAME_MAX || !chname_valid(name, len) ||
	    (!chname_allowed((const char *const *)r->cfg.allowed_channels, r->cfg.n_allowed, name, len) &&
	     !config_source_by_channel(&r->cfg, name, len))) {
		char shown[CHNAME_MAX + 1];

		echo_name(shown, name, len);
		session_notice_kv(s, "error", shown, "channel_not_allowed",
			  "channel is not a valid UW channel name or not in allowed_channels");
		return;
	}
	memcpy(chan, name, len);
	chan[len] = '\0';
	if (s->sub.n >= r->cfg.max_channels &&
	    !registry_is_member(&s->sub, registry_find(&r->reg, name, len))) {
		session_notice_kv(s, "error", chan, "too_many_channels", "too many channels on one socket");
		return;
	}
	if (filtab_get_text(&r->filters, chan, len, ftxt, flen, &fe, err)) {
		session_notice_kv(s, "error", chan, "bad_request", err);
		return;
	}
	rc = registry_subscribe(&r->reg, &s->sub, chan, len, &ch);
	if (rc == REG_ERR) {
		filtab_put(&r->filters, fe);
		session_notice_kv(s, "error", chan, "internal", "out of memory");
		return;
	}
	if (rc == REG_FIRST)
		relay_channel_changed(r, ch);
	/* subscribing again replaces the filter (none: every frame) */
	m = registry_membership(&s->sub, ch);
	filtab_put(&r->filters, m->filter);
	m->filter = fe;
	if (rc == REG_ALREADY) {
		notice_subscribed(s, chan, NULL, fe);
		return;
	}
	notice_subscribed(s, chan, ch, fe);
	if (rs && rs->has_since && !relay_defer_resume(r, ch, s, rs->since, rs->epoch))
		replay(s, ch, rs);
}

void
session_resume(struct session *s, struct reg_channel *ch, uint64_t since, const char *epoch)
{
	struct resume rs = { .has_since = 1, .since = since };

	snprintf(rs.epoch, sizeof(rs.epoch), "%s", epoch);
	replay(s, ch, &rs);
}

static void
unsubscribe(struct session *s, const char *name, size_t len)
{
	struct relay *r = s->relay;
	struct reg_channel *ch;
	struct reg_member *m;
	char chan[CHNAME_MAX + 1];
	int rc;

	if (len > CHNAME_MAX) {
		session_notice_kv(s, "error", NULL, "not_subscribed", "not subscribed to that channel");
		return;
	}
	memcpy(chan, name, len);
	chan[len] = '\0';
	ch = registry_find(&r->reg, chan, len);
	if (ch && (m = registry_membership(&s->sub, ch))) {
		filtab_put(&r->filters, m->filter);
		m->filter = NULL;
	}
	rc = registry_unsubscribe(&r->reg, &s->sub, chan, len, &ch);
	if (rc == REG_NOT_SUBSCRIBED) {
		session_notice_kv(s, "error", chan, "not_subscribed", "not subscribed to that channel");
		return;
	}
	if (rc == REG_LAST)
		relay_channel_changed(r, ch);
	session_notice_kv(s, "unsubscribed", chan, NULL, NULL);
}

/* Copies the path of the request URI (what precedes any "?"), truncated to plen. */
static void
split_uri(const char *uri, char *path, size_t plen)
{
	size_t n = strcspn(uri, "?");

	if (n >= plen)
		n = plen - 1;
	memcpy(path, uri, n);
	path[n] = '\0';
}

int
session_path_known(struct relay *r, const char *uri)
{
	char path[256];

	split_uri(uri, path, sizeof(path));
	return !strcmp(path, GENERIC_PATH) ||
	       config_endpoint_by_path(&r->cfg, path, strlen(path)) != NULL;
}

/* Subscribes to each name of list[0..len), "a,b,c", as if each came in a
 * subscribe message: each takes a token of the socket's message budget
 * and counts against clients.max_channels, so ?channels= cannot do more
 * than messages could. A name beyond the budget gets a rate_limited
 * notice (and one beyond max_channels too_many_channels); the socket
 * stays open. */
static void
subscribe_list(struct session *s, const char *list, size_t len, const struct resume *rs,
	       const char *ftxt, size_t flen)
{
	struct relay *r = s->relay;
	const char *p = list, *end = list + len;

	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t l = (size_t)((comma ? comma : end) - p);

		if (l && !tokenbucket_take(&s->msg_budget, r->cfg.max_msg_rate, 2 * r->cfg.max_msg_rate,
					   clock_mono_ms())) {
			char shown[CHNAME_MAX + 1];

			echo_name(shown, p, l);
			session_notice_kv(s, "error", shown, "rate_limited",
				  "more channels at once than clients.max_msg_rate allows: subscribe to this one later");
		} else if (l)
			subscribe(s, p, l, rs, ftxt, flen);
		p += l + (comma != NULL);
	}
}

int
session_established(struct session *s, struct lws *wsi, struct relay *r, const char *peer,
		    const char *path, const char *query, size_t qlen)
{
	const struct config_endpoint *ep;
	struct resume rs = { 0, 0, "" };
	char arg[64], ftxt[FILTER_MAX_LEN + 1];
	size_t flen = 0;
	long n;

	memset(s, 0, sizeof(*s));
	s->wsi = wsi;
	s->relay = r;
	s->is_ws = 1;
	s->sub.owner = s;
	s->next = r->sessions;
	if (r->sessions)
		r->sessions->prev = s;
	r->sessions = s;
	r->n_sessions++;
	snprintf(s->peer, sizeof(s->peer), "%s", peer);
	ipcount_inc(&r->per_ip, s->peer);

	/* the query was checked well-formed before the upgrade */
	n = query ? query_get(query, qlen, "since", arg, sizeof(arg)) : QUERY_ABSENT;
	if (n != QUERY_ABSENT) {
		if (n < 0 || parse_seq(arg, &rs.since))
			session_notice_kv(s, "error", NULL, "bad_request", "since must be a whole number");
		else
			rs.has_since = 1;
	}
	n = query ? query_get(query, qlen, "epoch", arg, sizeof(arg)) : QUERY_ABSENT;
	if (n != QUERY_ABSENT) {
		if (n < 0 || !climsg_epoch_valid(arg))
			session_notice_kv(s, "error", NULL, "bad_request", "epoch must be 16 hex digits");
		else
			memcpy(rs.epoch, arg, sizeof(rs.epoch));	/* 16 + NUL */
	}
	/* ?filter= applies to the endpoint's channel, or to each of ?channels= */
	n = query ? query_get(query, qlen, "filter", ftxt, sizeof(ftxt)) : QUERY_ABSENT;
	if (n == QUERY_TOO_LONG)
		session_notice_kv(s, "error", NULL, "bad_request", "filter: longer than 512 bytes");
	else if (n > 0)
		flen = (size_t)n;
	ep = config_endpoint_by_path(&r->cfg, path, strlen(path));
	if (ep) {
		snprintf(s->endpoint_channel, sizeof(s->endpoint_channel), "%s", ep->channel);
		snprintf(s->endpoint_path, sizeof(s->endpoint_path), "%s", ep->path);
		log_msg(LOG_DEBUG, "session: new subscriber on %s (%s)", path, ep->channel);
		if (n != QUERY_TOO_LONG)
			subscribe(s, ep->channel, strlen(ep->channel), &rs, ftxt, flen);
		return 0;
	}
	s->generic = 1;
	log_msg(LOG_DEBUG, "session: new subscriber on %s", path);
	if (query) {
		char *list = malloc(qlen + 1);

		if (!list)
			return -1;
		long nl = query_get(query, qlen, "channels", list, qlen + 1);

		if (nl > 0 && n != QUERY_TOO_LONG)
			subscribe_list(s, list, (size_t)nl, &rs, ftxt, flen);
		free(list);
	}
	return 0;
}

static int handle_message(struct session *s, const char *in, size_t len);

int
session_receive(struct session *s, const char *in, size_t len)
{
	if (s->close_code)
		return 0;
	return handle_message(s, in, len);
}

int
session_charge(struct session *s)
{
	struct relay *r = s->relay;
	uint64_t now = clock_mono_ms();

	if (s->close_code)
		return -1;
	/* max_msg_rate per second, bursts of twice that */
	if (!tokenbucket_take(&s->msg_budget, r->cfg.max_msg_rate, 2 * r->cfg.max_msg_rate, now)) {
		log_limited(&r->rl_clients, now, LOG_INFO,
			    "session: closing a client sending more than %g messages/s",
			    r->cfg.max_msg_rate);
		session_close(s, CLOSE_POLICY, "message rate limit exceeded");
		return -1;
	}
	return 0;
}

static int
handle_message(struct session *s, const char *in, size_t len)
{
	struct climsg m;

	if (session_charge(s))
		return 0;
	if (!s->generic) {
		session_notice_kv(s, "error", NULL, "read_only_endpoint",
			  "this endpoint takes no messages; use /api/stream/ws to choose channels");
		return 0;
	}
	switch (climsg_parse(in, len, &m)) {
	case CLIMSG_BAD:
		session_notice_kv(s, "error", m.channel[0] ? m.channel : NULL, "bad_request", m.error);
		break;
	case CLIMSG_SUBSCRIBE: {
		struct resume rs = { m.has_since, m.since, "" };

		memcpy(rs.epoch, m.epoch, sizeof(rs.epoch));
		subscribe(s, m.channel, m.channel_len < sizeof(m.channel) ? m.channel_len : sizeof(m.channel),
			  &rs, m.filter, m.filter_len);
		break;
	}
	case CLIMSG_UNSUBSCRIBE:
		unsubscribe(s, m.channel, m.channel_len < sizeof(m.channel) ? m.channel_len : sizeof(m.channel));
		break;
	}
	return 0;
}

/* The bytes that carry f to s (see enum session_wire), or NULL when out
 * of memory. */
static const unsigned char *
wire_of(struct session *s, struct frame *f, size_t *len)
{
	struct relay *r = s->relay;

	switch (s->wire) {
	case SESSION_WIRE_SSE:
		return sseenc_event(f, len);
	case SESSION_WIRE_WS_DEFLATE:
		return deflate_frame_wire(&r->deflater, f, (size_t)r->cfg.compression_min_bytes,
					  s->z_bits, len);
	default:
		*len = frame_wire_len(f);
		return frame_wire(f);
	}
}

/* Drains the queue while the socket takes it. Consecutive frames are
 * copied, as whole wire frames, into one buffer and sent with one write
 * (LWS_WRITE_RAW: lws adds no framing), so a burst costs one syscall per
 * SCRATCH_BYTES rather than one per frame. A frame bigger than the buffer
 * goes alone through the ordinary path. A short write is kept by lws and
 * WRITEABLE waits until it drained: at most SCRATCH_BYTES per socket. */
int
session_writeable(struct session *s)
{
	struct relay *r = s->relay;
	unsigned char *sb = r->scratch + LWS_PRE;
	uint64_t now_us = 0;

	if (s->close_code)
		return 0;	/* conn.c sends the close frame */
	while (s->q.count) {
		size_t n = 0;
		uint32_t k = 0;

		const unsigned char *w = NULL;
		size_t wl = 0;

		while (k < s->q.count) {
			w = wire_of(s, outq_at(&s->q, k), &wl);
			if (!w)
				return -1;
			if (n + wl > SCRATCH_BYTES)
				break;
			memcpy(sb + n, w, wl);
			n += wl;
			k++;
		}
		if (!k) {
			/* the first frame, too big for the buffer, goes alone
			 * (every wire form has FRAME_PRE of headroom) */
			if (lws_write(s->wsi, (unsigned char *)w, wl, LWS_WRITE_RAW) < (int)wl)
				return -1;
			k = 1;
		} else if (lws_write(s->wsi, sb, n, LWS_WRITE_RAW) < (int)n)
			return -1;
		while (k--) {
			struct frame *f = outq_peek(&s->q);

			if (f->t_us) {
				if (!now_us)
					now_us = clock_mono_us();
				lathist_observe(&r->latency, now_us - f->t_us);
			}
			s->replay_bonus -= s->replay_bonus < frame_cost(f) ? s->replay_bonus : frame_cost(f);
			outq_pop(&s->q);
		}
		if (s->q.count && lws_send_pipe_choked(s->wsi))
			break;
	}
	if (s->q.count)
		lws_callback_on_writable(s->wsi);
	return 0;
}

void
session_closed(struct session *s)
{
	struct relay *r = s->relay;

	if (!s->is_ws || !r)
		return;
	if (s->flush_queued) {
		/* off the batch's flush list: the memory goes with the connection */
		struct session **pp = &r->flush_head;

		while (*pp && *pp != s)
			pp = &(*pp)->flush_next;
		if (*pp)
			*pp = s->flush_next;
		s->flush_queued = 0;
	}
	tape_resume_cancel(s);
	outq_clear(&s->held);
	relay_session_gone(r, s);
	release_filters(s);
	registry_unsubscribe_all(&r->reg, &s->sub, last_left, r);
	outq_clear(&s->q);
	if (s->prev)
		s->prev->next = s->next;
	else
		r->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	r->n_sessions--;
	ipcount_dec(&r->per_ip, s->peer);
	s->is_ws = 0;
}

void
session_config_changed(struct relay *r)
{
	const struct config *c = &r->cfg;

	for (struct session *s = r->sessions; s; s = s->next) {
		if (s->close_code)
			continue;
		if (!s->generic) {
			const struct config_endpoint *ep =
				config_endpoint_by_path(c, s->endpoint_path, strlen(s->endpoint_path));

			if (!ep || strcmp(ep->channel, s->endpoint_channel))
				session_close(s, CLOSE_ENDPOINT_REMOVED,
					      "endpoint removed or changed by a configuration reload");
			continue;
		}
		/* walk backwards: unsubscribing swap-removes from the array */
		for (int i = (int)s->sub.n - 1; i >= 0; i--) {
			struct reg_channel *ch = s->sub.m[i]->ch;
			char name[CHNAME_MAX + 1];
			cJSON *o;

			if (chname_allowed((const char *const *)c->allowed_channels, c->n_allowed,
					   ch->name, ch->name_len))
				continue;
			memcpy(name, ch->name, (size_t)ch->name_len + 1);
			filtab_put(&r->filters, s->sub.m[i]->filter);
			s->sub.m[i]->filter = NULL;
			if (registry_unsubscribe(&r->reg, &s->sub, name, strlen(name), &ch) == REG_LAST)
				relay_channel_changed(r, ch);
			o = session_notice_new("unsubscribed", name);
			cJSON_AddStringToObject(o, "reason", "channel no longer allowed by the relay's configuration");
			session_send_notice(s->relay, s, NULL, o);
		}
	}
}
