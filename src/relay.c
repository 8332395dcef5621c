/* relay.c: the context, its two vhosts, the lws callbacks, signals.
 *
 * The callbacks here only route: each reason goes to the module that owns
 * it (session.c for browser sockets, http_api.c for HTTP answers,
 * upstream.c for UW). Signals arrive through a signalfd adopted into the
 * loop, so SIGTERM and SIGHUP are handled like any other event, never in
 * a signal handler. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"
#include "cluster.h"
#include "conn.h"
#include "envelope.h"
#include "listener.h"
#include "notify.h"
#include "relay.h"
#include "session.h"
#include "source.h"
#include "sse.h"
#include "replay.h"
#include "tapeq.h"
#include "tape.h"
#include "tape_resume.h"
#include "upstream.h"
#include "uwtoken.h"
#include "version.h"
#include "wsconn.h"

#define SHUTDOWN_GRACE_MS 1000

static struct relay *
relay_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

static int
is_loopback(const char *addr)
{
	return config_addr_is_loopback(addr);
}

int
relay_open_without_auth(const struct config *c, const struct access *a)
{
	return !is_loopback(c->listen_address) && !a->n && !c->listen_allow_anonymous;
}

/* ---- the hooks (relay_state.h): what the modules below ask of the relay ---- */

static void
channel_changed(struct relay *r, struct reg_channel *ch)
{
	struct source *src;

	if (r->replay)
		return;		/* the tape is the only source: nothing to join or poll */
	if (r->cfg.cluster_mode == CLUSTER_EDGE) {
		cluster_channel_changed(r->cl, ch);	/* frames come from Redis */
		return;
	}
	src = source_by_channel(r, ch->name, ch->name_len);
	if (src)
		source_wanted(src, ch->n_members > 0);
	else
		upstream_channel_changed(&r->up, ch);
}

static int
deliver(struct relay *r, struct reg_channel *ch, uint64_t seq, int64_t recv_ms, uint64_t t_us,
	const char *payload, size_t len, int fanout)
{
	struct frame *f;

	ch->frames_in++;
	ch->bytes_in += len;
	ch->seq = seq;
	f = envelope_data(ch->name, ch->name_len, seq, relay_channel_epoch(r, ch), recv_ms, payload, len);
	if (!f) {
		log_msg(LOG_ERR, "relay: out of memory building a frame for '%s'", ch->name);
		return -1;
	}
	f->t_us = t_us;
	if (ch->tape_slot && r->tape)
		tape_record(r->tape, ch->tape_slot - 1U, relay_channel_epoch(r, ch), seq, recv_ms, payload, len);
	history_add(&ch->hist, f, (uint32_t)r->cfg.history_size, (size_t)r->cfg.history_max_bytes);
	if (fanout)
		session_fanout(r, ch, f);
	frame_unref(f);
	return 0;
}

static void
publish(struct relay *r, struct reg_channel *ch, const char *payload, size_t len, int64_t recv_ms,
	uint64_t t_us)
{
	if (r->cfg.cluster_mode == CLUSTER_INGEST) {
		/* the seq is given out in Redis; edges deliver what comes back */
		ch->frames_in++;
		ch->bytes_in += len;
		cluster_append(r->cl, ch, payload, len, recv_ms);
		return;
	}
	deliver(r, ch, registry_next_seq(ch), recv_ms, t_us, payload, len, 1);
}

/* The UW client's hooks (upstream.h): frames to publish(), link
 * changes to browsers and systemd, and which channels REST sources poll. */
static void
up_publish(void *owner, struct reg_channel *ch, const char *payload, size_t len, int64_t recv_ms,
	   uint64_t rx_us)
{
	publish(owner, ch, payload, len, recv_ms, rx_us);
}

static void
up_link(void *owner, int up, const char *why)
{
	session_broadcast_upstream(owner, up, why);
	notify_status(owner);
}

static int
up_polled(void *owner, const char *name, size_t len)
{
	return source_by_channel(owner, name, len) != NULL;
}

static const struct upstream_hooks up_hooks = { up_publish, up_link, up_polled };

static const char *
upstream_word(const struct relay *r)
{
	if (r->replay)
		return "replay";
	return r->cfg.cluster_mode == CLUSTER_EDGE ? cluster_upstream_word(r->cl) :
						     upstream_status_word(&r->up);
}

static int
ready(const struct relay *r)
{
	if (r->replay)
		return !r->replay->failed;
	return cluster_ready(r->cl);
}

static int
defer_resume(struct relay *r, struct reg_channel *ch, struct session *s, uint64_t since,
	     const char *epoch)
{
	return cluster_defer_resume(r->cl, ch, s, since, epoch);
}

static void
session_gone(struct relay *r, struct session *s)
{
	cluster_session_gone(r->cl, s);
}

static const struct relay_hooks hooks = {
	channel_changed, deliver, publish, upstream_word, ready, defer_resume, session_gone,
};

/* ---- the status page's recent samples ---- */

/* Once a second: the counters into r->recent (statring.h). Frames in are
 * UW's and the REST sources', and on an edge those read from Redis. */
static void
recent_tick_cb(lws_sorted_usec_list_t *sul)
{
	struct relay *r = lws_container_of(sul, struct relay, sul_recent);
	struct statring_totals t = {
		.frames_in = r->up.frames_in,
		.frames_out = r->frames_out,
		.slow_closed = r->slow_closed,
		.connects = r->up.connects,
		.disconnects = r->up.disconnects,
		.clients = r->n_sessions > UINT32_MAX ? UINT32_MAX : (uint32_t)r->n_sessions,
		.up = !strcmp(relay_upstream_word(r), "connected"),
	};

	for (size_t k = 0; k < r->n_sources; k++)
		t.frames_in += r->sources[k].rows;
	if (r->cfg.cluster_mode == CLUSTER_EDGE)
		t.frames_in += r->cl->frames_read;
	statring_tick(&r->recent, (int64_t)clock_now_ms(), &t, r->up.last_error);
	lws_sul_schedule(r->ctx, 0, &r->sul_recent, recent_tick_cb, LWS_US_PER_SEC);
}

/* ---- signals ---- */

/* While stopping, wake the loop every 20 ms so relay_run() can see when
 * every socket has gone (or the grace period is over). */
static void
stop_tick_cb(lws_sorted_usec_list_t *sul)
{
	struct relay *r = lws_container_of(sul, struct relay, sul_stop);

	lws_sul_schedule(r->ctx, 0, &r->sul_stop, stop_tick_cb, 20 * 1000);
}

static void
begin_shutdown(struct relay *r, int sig)
{
	struct session *s;

	if (r->stopping)
		return;
	r->stopping = 1;
	notify_stopping(r);
	log_msg(LOG_INFO, "relay: %s received, closing %llu subscriber(s) and the upstream",
		strsignal(sig), (unsigned long long)r->n_sessions);
	listener_stop(r->lis);
	for (s = r->sessions; s; s = s->next)
		session_close(s, WSF_CLOSE_GOING_AWAY, "relay shutting down");
	upstream_stop(&r->up);
	if (r->replay)
		lws_sul_cancel(&r->replay->sul);
	cluster_shutdown(r->cl);
	lws_sul_schedule(r->ctx, 0, &r->sul_stop, stop_tick_cb, 20 * 1000);
	r->stop_deadline_ms = clock_mono_ms() + SHUTDOWN_GRACE_MS;
}

static int
signal_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct relay *r = relay_of(wsi);
	struct signalfd_siginfo si;
	(void)user;
	(void)in;
	(void)len;

	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return 0;
	while (read(r->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			begin_shutdown(r, (int)si.ssi_signo);
			break;
		case SIGHUP:
			notify_reloading(1);
			relay_reload(r);
			notify_reloading(0);
			notify_status(r);
			break;
		default:
			break;
		}
	}
	return 0;
}

/* A resolver thread finished: read the eventfd, let upstream connect. */
static int
wake_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct relay *r = relay_of(wsi);
	uint64_t v;
	(void)user;
	(void)in;
	(void)len;

	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return 0;
	while (read(r->wake_fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		;
	upstream_resolved(&r->up);
	for (size_t k = 0; k < r->n_sources; k++)
		source_resolved(&r->sources[k]);
	return 0;
}

/* What conn.c hands over once a request head is read: upgrades to
 * wsconn.c, event streams to sse.c. */
static const struct conn_routes browser_routes = { wsconn_upgrade, sse_path, sse_request };

static const struct lws_protocols browser_protocols[] = {
	/* every browser-port connection: HTTP and WebSocket are ours (conn.c,
	 * which finds browser_routes in the user field).
	 * The last field matters: with 0, lws caps every send() at the rx
	 * buffer's size, which would cut each coalesced write into pieces. */
	{ "uwrelay-http", conn_callback, sizeof(struct conn), 0, 0, (void *)&browser_routes,
	  SCRATCH_BYTES },
	{ "uwrelay-listen", listener_callback, 0, 0, 0, NULL, 0 },
	{ "uwrelay-signal", signal_callback, 0, 0, 0, NULL, 0 },
	{ "uwrelay-wake", wake_callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static const struct lws_protocols client_protocols[] = {
	{ "uw-upstream", upconn_callback, 0, 65536, 0, NULL, 0 },
	{ "uw-rest", source_callback, 0, 0, 0, NULL, 0 },
	{ "uwrelay-redis", rconn_callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static int
setup_signals(struct relay *r)
{
	sigset_t set;
	lws_sock_file_fd_type u;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -1;
	signal(SIGPIPE, SIG_IGN);
	r->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (r->signal_fd < 0)
		return -1;
	u.filefd = (lws_filefd_type)(intptr_t)r->signal_fd;
	if (!lws_adopt_descriptor_vhost(r->vh_server, LWS_ADOPT_RAW_FILE_DESC, u, "uwrelay-signal", NULL))
		return -1;
	r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->wake_fd < 0)
		return -1;
	u.filefd = (lws_filefd_type)(intptr_t)r->wake_fd;
	if (!lws_adopt_descriptor_vhost(r->vh_server, LWS_ADOPT_RAW_FILE_DESC, u, "uwrelay-wake", NULL))
		return -1;
	return 0;
}

/* ---- the tape ---- */

static void
tape_tick_cb(lws_sorted_usec_list_t *sul)
{
	struct relay *r = lws_container_of(sul, struct relay, sul_tape);

	tape_tick(r->tape, clock_mono_ms());
	lws_sul_schedule(r->ctx, 0, &r->sul_tape, tape_tick_cb, LWS_US_PER_SEC);
}

/* Opens the tape and subscribes the relay itself to tape.channels, so they
 * stay joined whether or not a browser wants them (a join like any other,
 * through the upstream budget). A standalone relay continues each taped
 * channel's epoch and seq from the tape; an ingest takes the cluster's
 * (seqs are given out in Redis). An edge records nothing: the ingest that
 * holds the UW link does. Returns 0, or -1 out of memory (logged). */
static int
start_tape(struct relay *r)
{
	if (!r->cfg.tape_path[0])
		return 0;
	if (r->cfg.cluster_mode == CLUSTER_EDGE) {
		log_msg(LOG_WARN, "tape: ignored on a cluster edge: the ingest holding the UW link records");
		return 0;
	}
	r->tape = tape_open(r->cfg.tape_path, r->cfg.tape_channels, r->cfg.n_tape_channels, r->epoch,
			    r->cfg.tape_max_age_s, r->cfg.tape_max_bytes);
	if (!r->tape)
		return -1;
	for (size_t i = 0; i < tape_n_channels(r->tape); i++) {
		const char *name = tape_channel_name(r->tape, i);
		struct reg_channel *ch;

		if (registry_subscribe(&r->reg, &r->tape_sub, name, strlen(name), &ch) == REG_ERR) {
			log_msg(LOG_ERR, "tape: out of memory");
			return -1;
		}
		ch->tape_slot = (uint16_t)(i + 1);
		if (r->cfg.cluster_mode == CLUSTER_STANDALONE) {
			ch->epoch = tape_epoch(r->tape);
			ch->seq = tape_last_seq(r->tape, i);
		}
	}
	lws_sul_schedule(r->ctx, 0, &r->sul_tape, tape_tick_cb, LWS_US_PER_SEC);
	return 0;
}

/* ---- lifecycle ---- */

static void
make_epoch(struct relay *r)
{
	uint8_t b[8];

	if (lws_get_random(r->ctx, b, sizeof(b)) != sizeof(b)) {
		uint64_t x = clock_now_ms() ^ ((uint64_t)getpid() << 32);

		memcpy(b, &x, sizeof(b));
	}
	for (int i = 0; i < 8; i++)
		snprintf(r->epoch + 2 * i, 3, "%02x", b[i]);
}

int
relay_init(struct relay *r, struct config *cfg, const char *config_path,
	   const struct replay_opts *replay)
{
	struct lws_context_creation_info info;
	char why[256] = "";

	memset(r, 0, sizeof(*r));
	/* the signals the loop reads through a signalfd are blocked before the
	 * port is open: a SIGTERM sent as soon as it answers must not find the
	 * default action (death) still in place */
	{
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGHUP);
		sigprocmask(SIG_BLOCK, &set, NULL);
	}
	r->hooks = &hooks;
	r->signal_fd = -1;
	r->wake_fd = -1;
	r->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	r->start_ms = clock_now_ms();
	r->cl = calloc(1, sizeof(*r->cl));
	r->lis = calloc(1, sizeof(*r->lis));
	if (!r->cl || !r->lis)
		return -1;
	r->lis->fd = r->lis->reserve_fd = -1;
	r->rl_refusals = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 5);
	r->rl_clients = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 5);
	r->config_path = config_path;
	r->scratch = malloc(LWS_PRE + SCRATCH_BYTES);
	if (!r->scratch || registry_init(&r->reg) || sources_init(r))
		return -1;
	upstream_init(&r->up, &r->cfg, &r->reg, &up_hooks, r);

	r->token = uwtoken_read(&r->cfg, why, sizeof(why));
	if (r->token)
		log_add_secret(r->token);
	else
		snprintf(r->up.disabled_reason, sizeof(r->up.disabled_reason), "%s", why);
	if (access_load(&r->access, &r->cfg, why, sizeof(why)) ||
	    assets_load_dir(r->cfg.static_dir, &r->static_files, why, sizeof(why))) {
		log_msg(LOG_ERR, "relay: %s", why);
		return -1;
	}
	if (relay_open_without_auth(&r->cfg, &r->access)) {
		log_msg(LOG_ERR, "relay: refusing to listen on %s without auth: UW data is licensed for "
			"personal use. Set auth.tokens (or auth.tokens_file), or listen.allow_anonymous: "
			"true if something else guards this port", r->cfg.listen_address);
		return -1;
	}

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.user = r;
	info.port = CONTEXT_PORT_NO_LISTEN;
	/* Every read lands in this one per-thread buffer: UW's socket is read
	 * in blocks of this size (default 4 KiB), each parsed in place by
	 * wsframe.c, so a bigger one means fewer poll()/read() rounds per
	 * frame. Browsers' reads are bounded by their protocol's 512 B rx
	 * buffer, not by this. One buffer per process. */
	info.pt_serv_buf_size = UPSTREAM_READ_BYTES;
	if (evloop_init(&r->loop, &info)) {
		log_msg(LOG_ERR, "relay: cannot create the %s event loop", evloop_name());
		return -1;
	}
	r->ctx = lws_create_context(&info);
	if (!r->ctx) {
		if (evloop_plugin())
			log_msg(LOG_ERR, "relay: cannot create the libwebsockets context (its %s "
				"event loop needs the package %s)", evloop_name(), evloop_plugin());
		else
			log_msg(LOG_ERR, "relay: cannot create the libwebsockets context");
		return -1;
	}
	make_epoch(r);

	if (listener_open(r->lis, r, conn_evict_oldest, r->cfg.listen_address, (int)r->cfg.listen_port, why,
			  sizeof(why))) {
		log_msg(LOG_ERR, "relay: %s", why);
		return -1;
	}
	memset(&info, 0, sizeof(info));
	info.vhost_name = "browsers";
	/* no lws listener: listener.c accepts and adopts each connection */
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = browser_protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	if (r->cfg.listen_tls_cert[0]) {
		info.ssl_cert_filepath = r->cfg.listen_tls_cert;
		info.ssl_private_key_filepath = r->cfg.listen_tls_key;
		/* the relay speaks HTTP/1.1 only: lws would offer h2 by default */
		info.alpn = "http/1.1";
		/* lws applies these to the vhost's SSL_CTX: TLS 1.2 or later,
		 * and a client's renegotiation request is refused (a cheap way
		 * to make the server redo expensive handshakes) */
		info.ssl_options_set = (long)(SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_SSLv3 |
					      SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1);
	}
	r->vh_server = lws_create_vhost(r->ctx, &info);
	if (!r->vh_server || listener_start(r->lis, r->vh_server)) {
		log_msg(LOG_ERR, "relay: cannot serve on %s:%lld (an unreadable TLS certificate or "
			"key?)", r->cfg.listen_address, (long long)r->cfg.listen_port);
		return -1;
	}

	memset(&info, 0, sizeof(info));
	info.vhost_name = "uw-client";
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = client_protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	if (r->cfg.ca_file[0])
		info.client_ssl_ca_filepath = r->cfg.ca_file;
	r->vh_client = lws_create_vhost(r->ctx, &info);
	if (!r->vh_client) {
		log_msg(LOG_ERR, "relay: cannot create the upstream client (TLS setup failed?)");
		return -1;
	}
	if (setup_signals(r)) {
		log_msg(LOG_ERR, "relay: cannot set up signal handling: %s", strerror(errno));
		return -1;
	}
	if (!is_loopback(r->cfg.listen_address) && !r->access.n)
		log_msg(LOG_WARN, "relay: listening on %s, beyond loopback, with no auth "
			"(allow_anonymous): UW data is licensed for personal use, make sure only you can "
			"reach this port", r->cfg.listen_address);
	log_msg(LOG_INFO, "relay: uwrelay %s listening on %s://%s:%lld/ (epoch %s)", UWRELAY_VERSION,
		r->cfg.listen_tls_cert[0] ? "https" : "http", r->cfg.listen_address,
		(long long)r->cfg.listen_port, r->epoch);
	if (r->cfg.tape_path[0]) {
		r->tape_reader = calloc(1, sizeof(*r->tape_reader));
		if (!r->tape_reader || tapeq_start(r->tape_reader, r->cfg.tape_path, r->ctx)) {
			log_msg(LOG_ERR, "relay: cannot start the tape's reader thread");
			return -1;
		}
	}
	upstream_attach(&r->up, r->ctx, r->vh_client, r->wake_fd, r->token);
	if (start_tape(r) || cluster_init(r->cl, r))
		return -1;
	/* a restarted standalone relay holds what it held before (taped
	 * channels), so a reconnect storm resumes from memory */
	if (r->tape && !replay && r->cfg.cluster_mode == CLUSTER_STANDALONE) {
		uint64_t n = tape_resume_warm(r, 5000);

		if (n)
			log_msg(LOG_INFO, "tape: %llu frame(s) read back into memory for resumes",
				(unsigned long long)n);
	}
	if (replay) {
		if (r->cfg.cluster_mode != CLUSTER_STANDALONE) {
			log_msg(LOG_ERR, "relay: --replay runs a standalone relay: cluster.role must be standalone");
			return -1;
		}
		r->up.state = UP_DISABLED;
		snprintf(r->up.disabled_reason, sizeof(r->up.disabled_reason),
			 "replaying a tape: no link to UW");
		r->replay = calloc(1, sizeof(*r->replay));
		if (!r->replay || replay_start(r->replay, r, replay, why, sizeof(why))) {
			log_msg(LOG_ERR, "relay: replay: %s", r->replay ? why : "out of memory");
			return -1;
		}
		log_msg(LOG_INFO, "relay: replaying %s at %s", replay->path,
			replay->speed > 0 ? "the recorded pacing (divided by --speed)" : "unlimited speed");
	} else if (r->cfg.cluster_mode == CLUSTER_STANDALONE)
		upstream_start(&r->up);
	else {
		/* an edge never dials UW; an ingest does once it holds the lock */
		r->up.state = UP_DISABLED;
		if (r->cfg.cluster_mode == CLUSTER_EDGE || r->token)
			snprintf(r->up.disabled_reason, sizeof(r->up.disabled_reason), "%s",
				 r->cfg.cluster_mode == CLUSTER_EDGE ? "cluster edge: frames come from Redis" :
				 "cluster ingest standing by: the relay holding the lock has the UW link");
		if (r->cfg.cluster_mode == CLUSTER_INGEST && !r->token)
			log_msg(LOG_ERR, "cluster: this ingest has no UW token (%s): it will never take "
				"the UW link", r->up.disabled_reason);
	}
	for (size_t i = 0; r->tape && i < tape_n_channels(r->tape); i++) {
		const char *name = tape_channel_name(r->tape, i);

		relay_channel_changed(r, registry_find(&r->reg, name, strlen(name)));
	}
	recent_tick_cb(&r->sul_recent);
	notify_ready(r);
	return 0;
}

int
relay_run(struct relay *r)
{
	for (;;) {
		int n, worked = 0;

		/* Every input of one pass of the loop (UW's socket, Redis, REST
		 * answers, browsers, timers) is one batch: queues that fill
		 * meanwhile are written when the pass is over, as redis writes
		 * its clients in beforeSleep, so no input site can forget it. */
		session_batch_begin(r);
		n = evloop_run_once(&r->loop, r->ctx);
		if (r->tape_reader)
			worked = tapeq_poll(r->tape_reader);
		worked |= session_batch_end(r);
		/* the batch ran outside lws' callbacks: a timer it scheduled
		 * (a close's drain timeout) must still wake the loop */
		if (worked)
			evloop_timers_changed(&r->loop, r->ctx);
		if (n < 0)
			break;
		if (!r->stopping)
			continue;
		if (clock_mono_ms() >= r->stop_deadline_ms ||
		    (!r->n_sessions && !r->up.conn.wsi && !cluster_busy(r->cl)))
			break;
	}
	return r->exit_code;
}

void
relay_destroy(struct relay *r)
{
	for (size_t k = 0; k < r->n_sources; k++) {
		/* requests in flight close with the context: let them find nothing */
		lws_sul_cancel(&r->sources[k].sul);
		if (r->sources[k].wsi)
			lws_set_opaque_user_data(r->sources[k].wsi, NULL);
	}
	if (r->tape_reader)
		tapeq_stop(r->tape_reader);	/* it wakes the context: stopped before it goes */
	if (r->replay) {
		replay_free(r->replay);	/* its timer is the context's */
		free(r->replay);
		r->replay = NULL;
	}
	if (r->ctx) {
		cluster_free(r->cl);
		lws_sul_cancel(&r->sul_stop);
		lws_sul_cancel(&r->sul_watchdog);
		lws_sul_cancel(&r->sul_sse_hb);
		lws_sul_cancel(&r->sul_tape);
		lws_sul_cancel(&r->sul_recent);
		lws_sul_cancel(&r->sul_pending);
	}
	/* before the context goes: its timers are in the context's lists; the
	 * link's last callbacks, during lws_context_destroy, find it stopped */
	upstream_free(&r->up);
	if (r->ctx) {
		evloop_destroy(&r->loop, r->ctx);
		r->ctx = NULL;
	} else
		evloop_destroy(&r->loop, NULL);
	if (r->tape_reader) {
		tapeq_free(r->tape_reader);	/* after the connections that could cancel a query */
		free(r->tape_reader);
		r->tape_reader = NULL;
	}
	tape_close(r->tape);
	r->tape = NULL;
	registry_free(&r->reg);
	filtab_free(&r->filters);
	sources_free(r);
	access_free(&r->access);
	assets_free_dir(&r->static_files);
	ipcount_free(&r->per_ip);
	ipcount_free(&r->pending_ip);
	if (r->lis)
		listener_free(r->lis);
	free(r->lis);
	r->lis = NULL;
	free(r->cl);
	r->cl = NULL;
	free(r->scratch);
	r->scratch = NULL;
	deflate_free(&r->deflater);
	if (r->signal_fd >= 0)
		close(r->signal_fd);
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	if (r->token) {
		memset(r->token, 0, strlen(r->token));
		free(r->token);
	}
	config_free(&r->cfg);
	log_clear_secrets();
}
