/* upstream.c: the UW client: what is said over the one link to UW
 * (upconn.c carries it).
 *
 * State: DISABLED (no token) or WAITING -> CONNECTING -> CONNECTED, and back
 * to WAITING on any failure, with the delay from backoff.c scheduled on an
 * lws_sul. Joins and leaves are not sent from where subscriptions change:
 * the registry marks the channel dirty and the WRITEABLE turn reconciles
 * each dirty channel's wanted state (has subscribers or not) with what UW
 * was told, so any burst of subscribe/unsubscribe collapses into at most
 * one message per channel and nothing is sent while down.
 *
 * Politeness: UW can throttle or revoke a token that misbehaves, so what
 * browsers do must not reach UW unfiltered. Every join and leave (the
 * rejoin after a reconnect too) takes a token from one bucket
 * (upstream.budget); when it is empty the reconciler stops and
 * sul_reconcile wakes it when the next token is due, joins before leaves
 * (someone waits for a join, nobody for a leave). A channel whose last
 * subscriber leaves is left only upstream.leave_delay later if still
 * unwanted, so sockets opening and closing cost UW nothing. Pings, pongs
 * and the close are protocol upkeep, not driven by browsers: they do not
 * take tokens.
 *
 * Health: our own timer rather than lws' validity policy, because the
 * config allows fractional seconds and because only silence (no frame and
 * no pong) should lead to a ping, and only a missing pong to a reconnect. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "backoff.h"
#include "clock.h"
#include "resolver.h"
#include "upframe.h"
#include "upstream.h"

static void schedule_retry(struct upstream *up);
static void health_cb(lws_sorted_usec_list_t *sul);
static void ack_cb(lws_sorted_usec_list_t *sul);
static void reconcile_cb(lws_sorted_usec_list_t *sul);
static const struct upconn_ops conn_ops;

void
upstream_init(struct upstream *up, const struct config *cfg, struct registry *reg,
	      const struct upstream_hooks *hooks, void *owner)
{
	memset(up, 0, sizeof(*up));
	up->cfg = cfg;
	up->reg = reg;
	up->hooks = hooks;
	up->owner = owner;
	up->wake_fd = -1;
	upconn_init(&up->conn, &conn_ops, up, up->last_error, sizeof(up->last_error));
	up->rl_malformed = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 5);
	up->rl_ack = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 5);
	up->rl_budget = (struct log_ratelimit)LOG_RATELIMIT_INIT(60000, 1);
}

void
upstream_attach(struct upstream *up, struct lws_context *ctx, struct lws_vhost *vh, int wake_fd,
		const char *token)
{
	up->ctx = ctx;
	up->vh = vh;
	up->wake_fd = wake_fd;
	up->token = token;
}

const char *const upstream_status_words[UPSTREAM_STATUS_WORDS] = {
	"connected", "disconnected", "unauthorized", "disabled"
};

const char *
upstream_status_word(const struct upstream *up)
{
	if (up->state == UP_DISABLED)
		return upstream_status_words[3];
	if (up->state == UP_CONNECTED)
		return upstream_status_words[0];
	if (up->conn.unauthorized)
		return upstream_status_words[2];
	return upstream_status_words[1];
}

const char *
upstream_state_name(const struct upstream *up)
{
	switch (up->state) {
	case UP_CONNECTED:
		return "connected";
	case UP_CONNECTING:
		return "connecting";
	case UP_WAITING:
		return "waiting_to_retry";
	case UP_STOPPED:
		return "stopped";
	default:
		return "disabled";
	}
}

/* Records why the link is not working and logs it once (WARN). */
/* Connects to up->address (numeric), sending the host name as Host/SNI. */
static void
connect_resolved(struct upstream *up)
{
	if (upconn_connect(&up->conn, up->ctx, up->vh, up->address, (size_t)up->cfg->max_frame))
		schedule_retry(up);
}

/* Starts an attempt: a numeric host connects at once, a name is resolved
 * off the loop first (see resolver.h). */
static void
connect_now(struct upstream *up)
{
	up->state = UP_CONNECTING;
	log_msg(LOG_INFO, "upstream: connecting to %s (attempt %u)", up->conn.url_masked, up->attempt + 1);
	if (resolver_is_numeric(up->conn.url.host)) {
		snprintf(up->address, sizeof(up->address), "%s", up->conn.url.host);
		connect_resolved(up);
		return;
	}
	resolver_release(up->resolving);
	up->resolving = resolver_start(up->conn.url.host, resolver_wake_eventfd,
				       (void *)(intptr_t)up->wake_fd);
	if (!up->resolving) {
		log_fail(up->last_error, sizeof(up->last_error), "upstream", "cannot start resolving %s",
			 up->conn.url.host);
		schedule_retry(up);
	}
}

void
upstream_resolved(struct upstream *up)
{
	char err[128];

	if (!up->resolving ||
	    !resolver_result(up->resolving, up->address, sizeof(up->address), err, sizeof(err)))
		return;
	resolver_release(up->resolving);
	up->resolving = NULL;
	if (up->state != UP_CONNECTING)
		return;		/* stopped or reconfigured meanwhile */
	if (!up->address[0]) {
		log_fail(up->last_error, sizeof(up->last_error), "upstream", "%s", err);
		schedule_retry(up);
		return;
	}
	log_msg(LOG_DEBUG, "upstream: %s is %s", up->conn.url.host, up->address);
	connect_resolved(up);
}

static void
retry_cb(lws_sorted_usec_list_t *sul)
{
	struct upstream *up = lws_container_of(sul, struct upstream, sul_retry);

	if (up->state == UP_WAITING)
		connect_now(up);
}

static void
schedule_retry(struct upstream *up)
{
	const struct config *c = up->cfg;
	struct backoff_cfg bc = { c->reconnect_initial, c->reconnect_max, c->reconnect_jitter };
	uint64_t delay;
	unsigned att;

	if (up->state == UP_STOPPED || up->state == UP_DISABLED)
		return;
	up->attempt++;
	/* a token UW refuses will not fix itself in seconds: retry slowly */
	att = up->conn.unauthorized ? 64 : up->attempt;
	{
		uint32_t rnd = 0;

		lws_get_random(up->ctx, &rnd, sizeof(rnd));
		delay = backoff_delay_ms(&bc, att, (double)rnd / 4294967296.0);
	}
	up->state = UP_WAITING;
	up->next_retry_at_ms = clock_mono_ms() + delay;
	log_msg(LOG_INFO, "upstream: retrying in %.3f s", (double)delay / 1000.0);
	lws_sul_schedule(up->ctx, 0, &up->sul_retry, retry_cb, (lws_usec_t)delay * 1000);
}

/* Derives where to connect from the config. Returns 0, or -1 with
 * disabled_reason set (left alone when there is no token: the owner said why). */
static int
prepare(struct upstream *up)
{
	char why[sizeof(up->disabled_reason)];

	if (!upconn_target(&up->conn, up->cfg->upstream_url, up->token, up->cfg->ca_file, why,
			   sizeof(why)))
		return 0;
	if (why[0])
		snprintf(up->disabled_reason, sizeof(up->disabled_reason), "%s", why);
	return -1;
}

void
upstream_start(struct upstream *up)
{
	if (prepare(up)) {
		up->state = UP_DISABLED;
		log_msg(LOG_WARN, "upstream: disabled: %s", up->disabled_reason);
		return;
	}
	connect_now(up);
}

void
upstream_reconfigure(struct upstream *up)
{
	if (up->state == UP_DISABLED || up->state == UP_STOPPED)
		return;
	if (prepare(up)) {
		log_msg(LOG_ERR, "upstream: new url unusable (%s); staying down", up->disabled_reason);
		lws_sul_cancel(&up->sul_retry);
		up->state = UP_DISABLED;
		upconn_kill(&up->conn);
		return;
	}
	log_msg(LOG_INFO, "upstream: url changed to %s", up->conn.url_masked);
	if (up->conn.wsi) {
		/* on_lost() reconnects, to the new url */
		log_maskf(up->last_error, sizeof(up->last_error),
			  "upstream url changed by a configuration reload");
		upconn_close(&up->conn, WSF_CLOSE_GOING_AWAY);
	}
}

void
upstream_channel_changed(struct upstream *up, struct reg_channel *ch)
{
	/* the linger of a leave, and the wait of a join, count from here */
	ch->want_changed_ms = clock_mono_ms();
	registry_mark_dirty(up->reg, ch);
	if (up->state == UP_CONNECTED)
		upconn_want_write(&up->conn);
}

void
upstream_config_changed(struct upstream *up)
{
	if (up->state == UP_CONNECTED && up->reg->dirty_head)
		upconn_want_write(&up->conn);
}

static uint64_t
leave_delay_ms(const struct upstream *up)
{
	return (uint64_t)(up->cfg->leave_delay * 1000);
}

/* Counts a join or leave in the per-second slots of the last 10 s. */
static void
count_sent(struct upstream *up, uint64_t now_ms)
{
	uint64_t sec = now_ms / 1000;
	unsigned i = (unsigned)(sec % 10);

	if (up->sent_win_sec[i] != sec) {
		up->sent_win_sec[i] = sec;
		up->sent_win[i] = 0;
	}
	up->sent_win[i]++;
}

void
upstream_budget_info(const struct upstream *up, struct upstream_budget_info *out)
{
	struct registry *reg = up->reg;
	uint64_t now = clock_mono_ms(), sec = now / 1000, linger = leave_delay_ms(up);
	struct reg_channel *ch;

	memset(out, 0, sizeof(*out));
	out->rate = up->cfg->budget_rate;
	out->burst = (double)up->cfg->budget_burst;
	out->tokens = tokenbucket_peek(&up->budget, out->rate, out->burst, now);
	for (unsigned i = 0; i < 10; i++)
		if (sec - up->sent_win_sec[i] < 10)
			out->sent_10s += up->sent_win[i];
	for (ch = reg->dirty_head; ch; ch = ch->dnext)
		switch (registry_up_action(ch, now, linger, NULL)) {
		case REG_UP_JOIN:
			out->queued_joins++;
			break;
		case REG_UP_LEAVE:
			out->queued_leaves++;
			break;
		case REG_UP_LINGER:
			out->lingering++;
			break;
		default:
			break;
		}
}

static void
reconcile_cb(lws_sorted_usec_list_t *sul)
{
	struct upstream *up = lws_container_of(sul, struct upstream, sul_reconcile);

	if (up->state == UP_CONNECTED && up->reg->dirty_head)
		upconn_want_write(&up->conn);
}

/* Wakes the reconciler at mono time at_ms (0: nothing is due). */
static void
reconcile_at(struct upstream *up, uint64_t now_ms, uint64_t at_ms)
{
	if (!at_ms) {
		lws_sul_cancel(&up->sul_reconcile);
		return;
	}
	lws_sul_schedule(up->ctx, 0, &up->sul_reconcile, reconcile_cb,
			 (lws_usec_t)(at_ms > now_ms ? at_ms - now_ms : 0) * 1000);
}

static void
reset_channels(struct upstream *up)
{
	struct registry *reg = up->reg;
	struct reg_channel *ch;
	uint32_t it;

	for (ch = registry_first(reg, &it); ch; ch = registry_next(reg, ch, &it)) {
		ch->up_state = UPCH_NONE;
		ch->ack_status[0] = '\0';
	}
}

static void
mark_all_wanted_dirty(struct upstream *up)
{
	struct registry *reg = up->reg;
	struct reg_channel *ch;
	uint64_t now = clock_mono_ms();
	uint32_t it;

	for (ch = registry_first(reg, &it); ch; ch = registry_next(reg, ch, &it))
		if (ch->n_members && !up->hooks->polled(up->owner, ch->name, ch->name_len)) {
			ch->want_changed_ms = now;	/* a rejoin's wait counts from the reconnect */
			registry_mark_dirty(reg, ch);
		}
}

void
upstream_stop(struct upstream *up)
{
	lws_sul_cancel(&up->sul_retry);
	lws_sul_cancel(&up->sul_health);
	lws_sul_cancel(&up->sul_ack);
	lws_sul_cancel(&up->sul_reconcile);
	if (up->state == UP_DISABLED)
		return;
	up->state = UP_STOPPED;
	upconn_close(&up->conn, WSF_CLOSE_GOING_AWAY);
}

void
upstream_free(struct upstream *up)
{
	lws_sul_cancel(&up->sul_retry);
	lws_sul_cancel(&up->sul_health);
	lws_sul_cancel(&up->sul_ack);
	lws_sul_cancel(&up->sul_reconcile);
	if (up->state != UP_DISABLED)
		up->state = UP_STOPPED;
	upconn_free(&up->conn);
	resolver_release(up->resolving);
	up->resolving = NULL;
}

/* ---- health ---- */

static void
health_arm(struct upstream *up, uint64_t in_ms)
{
	lws_sul_schedule(up->ctx, 0, &up->sul_health, health_cb, (lws_usec_t)in_ms * 1000);
}

static void
health_cb(lws_sorted_usec_list_t *sul)
{
	struct upstream *up = lws_container_of(sul, struct upstream, sul_health);
	const struct config *c = up->cfg;
	uint64_t now = clock_mono_ms(), idle_ms = (uint64_t)(c->health_idle * 1000),
		 pong_ms = (uint64_t)(c->health_pong * 1000);

	if (up->state != UP_CONNECTED || !up->conn.wsi)
		return;
	if (up->ping_sent_ms) {
		if (now - up->ping_sent_ms >= pong_ms) {
			log_maskf(up->last_error, sizeof(up->last_error),
				  "no pong within %.3g s after %.3g s of silence: link is dead",
				  c->health_pong, c->health_idle);
			log_msg(LOG_WARN, "upstream: %s, reconnecting", up->last_error);
			upconn_kill(&up->conn);
			return;
		}
		health_arm(up, up->ping_sent_ms + pong_ms - now);
		return;
	}
	if (now - up->last_rx_ms >= idle_ms) {
		log_msg(LOG_DEBUG, "upstream: %.3g s of silence, sending a ping", c->health_idle);
		up->ping_sent_ms = now;
		upconn_ping(&up->conn);
		health_arm(up, pong_ms);
		return;
	}
	health_arm(up, up->last_rx_ms + idle_ms - now);
}

/* ---- joins that are never acked ----
 * UW acks a join within ~50 ms. A server that never does (the docs route
 * /api/socket answers 101 and then nothing) would otherwise look like a
 * quiet market forever. */

static void
ack_cb(lws_sorted_usec_list_t *sul)
{
	struct upstream *up = lws_container_of(sul, struct upstream, sul_ack);
	struct registry *reg = up->reg;
	uint64_t now = clock_mono_ms(), to = (uint64_t)(up->cfg->ack_timeout * 1000), next = 0;
	struct reg_channel *ch;
	uint32_t it, n = 0;
	char first[CHNAME_MAX + 1] = "";

	if (up->state != UP_CONNECTED)
		return;
	for (ch = registry_first(reg, &it); ch; ch = registry_next(reg, ch, &it)) {
		if (ch->up_state != UPCH_JOIN_SENT)
			continue;
		if (now - ch->join_sent_ms >= to) {
			if (!n++)
				snprintf(first, sizeof(first), "%s", ch->name);
		} else if (!next || ch->join_sent_ms + to - now < next)
			next = ch->join_sent_ms + to - now;
	}
	if (n && n != up->unacked) {
		log_fail(up->last_error, sizeof(up->last_error), "upstream",
			 "no ack from UW within %.3g s for %u join(s) (first: %s): is the url the "
			 "real socket, not the documentation route?", up->cfg->ack_timeout, n, first);
	}
	up->unacked = n;
	if (next)
		lws_sul_schedule(up->ctx, 0, &up->sul_ack, ack_cb, (lws_usec_t)next * 1000);
}

/* ---- incoming frames ---- */

static void
on_ack(struct upstream *up, const struct upframe *f)
{
	struct reg_channel *ch = f->channel_escaped ? NULL :
				 registry_find(up->reg, f->channel, f->channel_len);
	size_t sl = f->ack_status_len;

	if (f->ack_ok)
		up->acks_ok++;
	else {
		up->acks_failed++;
		log_limited(&up->rl_ack, clock_mono_ms(), LOG_WARN,
			    "upstream: join of '%.*s' answered with status '%.*s'",
			    (int)(f->channel_len > 64 ? 64 : f->channel_len), f->channel,
			    (int)(sl > 32 ? 32 : sl), f->ack_status);
		log_maskf(up->last_error, sizeof(up->last_error), "join of '%.*s' answered with status '%.*s'",
			  (int)(f->channel_len > 64 ? 64 : f->channel_len), f->channel,
			  (int)(sl > 32 ? 32 : sl), f->ack_status);
	}
	if (!ch)
		return;
	if (sl >= sizeof(ch->ack_status))
		sl = sizeof(ch->ack_status) - 1;
	memcpy(ch->ack_status, f->ack_status, sl);
	ch->ack_status[sl] = '\0';
	if (ch->up_state == UPCH_JOIN_SENT) {
		ch->up_state = f->ack_ok ? UPCH_ACKED : UPCH_ACK_FAILED;
		if (up->unacked)
			up->unacked--;
	}
}

static void
on_message(struct upstream *up, const char *buf, size_t len)
{
	struct upframe f;
	struct reg_channel *ch;

	up->frames_in++;
	up->bytes_in += len;
	up->last_frame_ms = clock_now_ms();
	switch (upframe_parse(buf, len, &f)) {
	case UPFRAME_MALFORMED:
		up->malformed++;
		log_limited(&up->rl_malformed, clock_mono_ms(), LOG_WARN,
			    "upstream: dropped a malformed frame (%s, %zu bytes)", f.error, len);
		return;
	case UPFRAME_ACK:
		on_ack(up, &f);
		return;
	case UPFRAME_DATA:
		break;
	}
	ch = f.channel_escaped ? NULL : registry_find(up->reg, f.channel, f.channel_len);
	if (!ch || !ch->n_members) {
		up->unrouted++;
		return;
	}
	up->hooks->publish(up->owner, ch, f.payload, f.payload_len, (int64_t)up->last_frame_ms,
			   up->rx_us);
}

/* ---- what the transport reports (struct upconn_ops) ---- */

static void
conn_rx(void *owner)
{
	struct upstream *up = owner;

	up->rx_us = clock_mono_us();
	up->last_rx_ms = up->rx_us / 1000;
	up->ping_sent_ms = 0;
}

static void
conn_message(void *owner, enum upconn_msg kind, const char *data, size_t len)
{
	struct upstream *up = owner;

	switch (kind) {
	case UPCONN_TEXT:
		on_message(up, data, len);
		break;
	case UPCONN_BINARY:
		up->malformed++;
		log_limited(&up->rl_malformed, clock_mono_ms(), LOG_WARN,
			    "upstream: dropped a binary frame (%zu bytes)", len);
		break;
	case UPCONN_OVERSIZE:
		up->oversize++;
		log_limited(&up->rl_malformed, clock_mono_ms(), LOG_WARN,
			    "upstream: dropped a frame over max_frame (%lld bytes)",
			    (long long)up->cfg->max_frame);
		break;
	}
}

/* Sends one join or leave for ch. Returns 0, or -1 if lws could not take it. */
static int
send_join_leave(struct upstream *up, struct reg_channel *ch, int join, uint64_t now)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "{\"channel\":\"%s\",\"msg_type\":\"%s\"}", ch->name,
		 join ? "join" : "leave");
	registry_clear_dirty(up->reg, ch);
	count_sent(up, now);
	if (join) {
		uint64_t waited = now >= ch->want_changed_ms ? now - ch->want_changed_ms : 0;

		ch->up_state = UPCH_JOIN_SENT;
		ch->join_sent_ms = now;
		up->joins_sent++;
		up->join_wait_last_ms = waited;
		if (waited > up->join_wait_max_ms)
			up->join_wait_max_ms = waited;
		if (lws_dll2_is_detached(&up->sul_ack.list))
			lws_sul_schedule(up->ctx, 0, &up->sul_ack, ack_cb,
					 (lws_usec_t)(up->cfg->ack_timeout * 1e6));
		/* debug: under churn one line per message would flood the log */
		log_msg(LOG_DEBUG, "upstream: join %s (waited %llu ms)", ch->name,
			(unsigned long long)waited);
	} else {
		ch->up_state = UPCH_NONE;
		ch->ack_status[0] = '\0';
		up->leaves_sent++;
		log_msg(LOG_DEBUG, "upstream: leave %s", ch->name);
	}
	return upconn_send_text(&up->conn, msg, strlen(msg));
}

/* The bucket is empty: stop, and come back when the next token is due. */
static int
budget_stall(struct upstream *up, uint64_t now)
{
	uint64_t wait = tokenbucket_wait_ms(&up->budget, up->cfg->budget_rate,
					    (double)up->cfg->budget_burst, now);

	up->budget_stalls++;
	log_limited(&up->rl_budget, now, LOG_INFO,
		    "upstream: join/leave budget (%g/s, burst %lld) used up; the rest wait their turn",
		    up->cfg->budget_rate, (long long)up->cfg->budget_burst);
	reconcile_at(up, now, wait == UINT64_MAX ? 0 : now + (wait ? wait : 1));
	return 0;
}

/* Brings UW in line with what subscribers want, as far as the budget
 * allows: first every join due, then every leave due; lingering leaves
 * and whatever the budget holds back stay on the dirty list, and
 * sul_reconcile comes back for them. O(dirty channels) per call. */
static int
reconcile(void *owner)
{
	struct upstream *up = owner;
	struct registry *reg = up->reg;
	uint64_t now = clock_mono_ms(), linger = leave_delay_ms(up), wake = 0, due;
	double rate = up->cfg->budget_rate, burst = (double)up->cfg->budget_burst;
	struct reg_channel *ch, *next;

	for (int pass = 0; pass < 2; pass++) {
		for (ch = reg->dirty_head; ch; ch = next) {
			enum reg_up_action a = registry_up_action(ch, now, linger, &due);

			next = ch->dnext;
			if (a == REG_UP_NOTHING) {
				registry_clear_dirty(reg, ch);
				continue;
			}
			if (a == REG_UP_LINGER) {
				if (!wake || due < wake)
					wake = due;
				continue;
			}
			if ((a == REG_UP_JOIN) != (pass == 0))
				continue;	/* joins in the first pass, leaves in the second */
			if (!tokenbucket_take(&up->budget, rate, burst, now))
				return budget_stall(up, now);
			if (send_join_leave(up, ch, a == REG_UP_JOIN, now))
				return -1;
			if (upconn_choked(&up->conn)) {
				if (reg->dirty_head)
					upconn_want_write(&up->conn);
				return 0;
			}
		}
	}
	reconcile_at(up, now, wake);
	return 0;
}

static void
on_established(void *owner)
{
	struct upstream *up = owner;

	up->state = UP_CONNECTED;
	up->attempt = 0;
	up->connects++;
	up->connected_since_ms = clock_now_ms();
	up->last_rx_ms = clock_mono_ms();
	up->ping_sent_ms = 0;
	up->last_error[0] = '\0';
	log_msg(LOG_INFO, "upstream: connected to %s", up->conn.url_masked);
	reset_channels(up);
	mark_all_wanted_dirty(up);
	if (up->reg->dirty_head)
		upconn_want_write(&up->conn);
	health_arm(up, (uint64_t)(up->cfg->health_idle * 1000));
	up->hooks->link(up->owner, 1, NULL);
}

/* The connection ended; upconn has recorded why in last_error. */
static void
on_lost(void *owner)
{
	struct upstream *up = owner;
	int was_connected = up->state == UP_CONNECTED;

	lws_sul_cancel(&up->sul_health);
	lws_sul_cancel(&up->sul_ack);
	lws_sul_cancel(&up->sul_reconcile);
	up->unacked = 0;
	reset_channels(up);
	up->connected_since_ms = 0;
	if (was_connected) {
		up->disconnects++;
		log_msg(LOG_WARN, "upstream: connection lost%s%s", up->last_error[0] ? ": " : "",
			up->last_error);
		if (up->state != UP_STOPPED)
			up->hooks->link(up->owner, 0, up->last_error);
	}
	if (up->state == UP_STOPPED || up->state == UP_DISABLED)
		return;
	schedule_retry(up);
}

static const struct upconn_ops conn_ops = {
	.established = on_established,
	.rx = conn_rx,
	.message = conn_message,
	.writeable = reconcile,
	.lost = on_lost,
};
