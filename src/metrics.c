/* metrics.c: Prometheus text exposition (version 0.0.4) for GET /metrics.
 *
 * Counters are read from where they already live (upstream, registry,
 * sessions, the fan-out latency histogram). Channel
 * names need no label escaping: chname.c allows no quote, backslash or
 * newline in them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "cluster.h"
#include "lathist.h"
#include "listener.h"
#include "metrics.h"
#include "promtext.h"
#include "relay_state.h"
#include "replay.h"
#include "tapeq.h"
#include "session.h"
#include "source.h"
#include "tape.h"
#include "upstream.h"
#include "version.h"

char *
metrics_text(struct relay *r)
{
	const struct upstream *up = &r->up;
	struct reg_channel *ch;
	struct session *s;
	uint64_t queue_bytes = 0, cum = 0;
	uint32_t it;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	for (s = r->sessions; s; s = s->next)
		queue_bytes += s->q.bytes;

	promtext_head(f, "info", "gauge", "Build information.");
	fprintf(f, "uwrelay_info{version=\"%s\",epoch=\"%s\"} 1\n", UWRELAY_VERSION, r->epoch);
	promtext_head(f, "uptime_seconds", "gauge", "Seconds since the relay started.");
	fprintf(f, "uwrelay_uptime_seconds %.3f\n", (double)(clock_now_ms() - r->start_ms) / 1000.0);

	promtext_head(f, "upstream_up", "gauge", "1 while the WebSocket to UW is established.");
	fprintf(f, "uwrelay_upstream_up %d\n", up->state == UP_CONNECTED);
	promtext_head(f, "upstream_state", "gauge", "Upstream state, one series per state, 1 for the current one.");
	for (int i = 0; i < UPSTREAM_STATUS_WORDS; i++)
		fprintf(f, "uwrelay_upstream_state{state=\"%s\"} %d\n", upstream_status_words[i],
			!strcmp(upstream_status_word(up), upstream_status_words[i]));
	promtext_head(f, "upstream_connects_total", "counter", "WebSocket connections to UW established.");
	fprintf(f, "uwrelay_upstream_connects_total %llu\n", (unsigned long long)up->connects);
	promtext_head(f, "upstream_disconnects_total", "counter", "Established UW connections lost.");
	fprintf(f, "uwrelay_upstream_disconnects_total %llu\n", (unsigned long long)up->disconnects);
	promtext_head(f, "upstream_reconnect_attempts", "gauge", "Failed attempts since the last good connection.");
	fprintf(f, "uwrelay_upstream_reconnect_attempts %u\n", up->attempt);
	promtext_head(f, "upstream_frames_total", "counter", "Messages received from UW, all kinds.");
	fprintf(f, "uwrelay_upstream_frames_total %llu\n", (unsigned long long)up->frames_in);
	promtext_head(f, "upstream_bytes_total", "counter", "Bytes of messages received from UW.");
	fprintf(f, "uwrelay_upstream_bytes_total %llu\n", (unsigned long long)up->bytes_in);
	promtext_head(f, "malformed_frames_total", "counter", "Upstream messages dropped as malformed.");
	fprintf(f, "uwrelay_malformed_frames_total %llu\n", (unsigned long long)up->malformed);
	promtext_head(f, "oversize_frames_total", "counter", "Upstream messages dropped for exceeding max_frame.");
	fprintf(f, "uwrelay_oversize_frames_total %llu\n", (unsigned long long)up->oversize);
	promtext_head(f, "unrouted_frames_total", "counter", "Upstream data for channels with no subscriber.");
	fprintf(f, "uwrelay_unrouted_frames_total %llu\n", (unsigned long long)up->unrouted);
	promtext_head(f, "acks_total", "counter", "Join acknowledgements from UW, by status.");
	fprintf(f, "uwrelay_acks_total{status=\"ok\"} %llu\n", (unsigned long long)up->acks_ok);
	fprintf(f, "uwrelay_acks_total{status=\"failed\"} %llu\n", (unsigned long long)up->acks_failed);
	promtext_head(f, "unacked_joins", "gauge", "Joins not acknowledged within ack_timeout.");
	fprintf(f, "uwrelay_unacked_joins %u\n", up->unacked);
	promtext_head(f, "joins_total", "counter", "Join messages sent to UW.");
	fprintf(f, "uwrelay_joins_total %llu\n", (unsigned long long)up->joins_sent);
	promtext_head(f, "leaves_total", "counter", "Leave messages sent to UW.");
	fprintf(f, "uwrelay_leaves_total %llu\n", (unsigned long long)up->leaves_sent);
	{
		struct upstream_budget_info b;

		upstream_budget_info(up, &b);
		promtext_head(f, "upstream_budget_rate", "gauge", "Joins and leaves per second the budget allows (upstream.budget.rate).");
		fprintf(f, "uwrelay_upstream_budget_rate %g\n", b.rate);
		promtext_head(f, "upstream_budget_burst", "gauge", "Largest burst of joins and leaves (upstream.budget.burst).");
		fprintf(f, "uwrelay_upstream_budget_burst %g\n", b.burst);
		promtext_head(f, "upstream_budget_tokens", "gauge", "Joins and leaves that could be sent now.");
		fprintf(f, "uwrelay_upstream_budget_tokens %.3f\n", b.tokens);
		promtext_head(f, "upstream_budget_stalls_total", "counter", "Times the reconciler stopped on an empty budget.");
		fprintf(f, "uwrelay_upstream_budget_stalls_total %llu\n", (unsigned long long)up->budget_stalls);
		promtext_head(f, "upstream_queued_joins", "gauge", "Joins waiting for the budget (or for the UW link).");
		fprintf(f, "uwrelay_upstream_queued_joins %u\n", b.queued_joins);
		promtext_head(f, "upstream_queued_leaves", "gauge", "Leaves due but waiting for the budget.");
		fprintf(f, "uwrelay_upstream_queued_leaves %u\n", b.queued_leaves);
		promtext_head(f, "upstream_lingering_leaves", "gauge", "Channels nobody wants, left once upstream.leave_delay is over.");
		fprintf(f, "uwrelay_upstream_lingering_leaves %u\n", b.lingering);
		promtext_head(f, "upstream_join_wait_max_seconds", "gauge", "Longest wait of a join, from its first subscriber to its sending.");
		fprintf(f, "uwrelay_upstream_join_wait_max_seconds %.3f\n", (double)up->join_wait_max_ms / 1000.0);
	}

	if (r->cl->mode != CLUSTER_STANDALONE) {
		const struct cluster *cl = r->cl;

		promtext_head(f, "cluster_redis_up", "gauge", "1 while this relay's links to Redis are up.");
		fprintf(f, "uwrelay_cluster_redis_up %d\n", cluster_redis_up(cl));
		promtext_head(f, "cluster_redis_drops_total", "counter", "Redis links lost.");
		fprintf(f, "uwrelay_cluster_redis_drops_total %llu\n",
			(unsigned long long)(cl->cmd.drops + cl->rd.drops));
		promtext_head(f, "cluster_uw_link_up", "gauge", "1 while the cluster's UW link is up, as this relay knows it.");
		fprintf(f, "uwrelay_cluster_uw_link_up %d\n", cluster_ready(cl));
	}
	if (r->cl->mode == CLUSTER_INGEST) {
		const struct cluster *cl = r->cl;

		promtext_head(f, "cluster_leader", "gauge", "1 while this ingest holds the UW link lock.");
		fprintf(f, "uwrelay_cluster_leader %d\n", cl->leader);
		promtext_head(f, "cluster_takeovers_total", "counter", "Times this ingest took the UW link lock.");
		fprintf(f, "uwrelay_cluster_takeovers_total %llu\n", (unsigned long long)cl->takeovers);
		promtext_head(f, "cluster_appended_total", "counter", "Frames appended to the Redis streams.");
		fprintf(f, "uwrelay_cluster_appended_total %llu\n", (unsigned long long)cl->appended);
		promtext_head(f, "cluster_append_lost_total", "counter",
		     "Frames not appended: refused, Redis down, or this relay not the holder.");
		fprintf(f, "uwrelay_cluster_append_lost_total %llu\n",
			(unsigned long long)(cl->append_failed + cl->append_dropped));
	} else if (r->cl->mode == CLUSTER_EDGE) {
		const struct cluster *cl = r->cl;

		promtext_head(f, "cluster_frames_read_total", "counter", "Frames read from the Redis streams.");
		fprintf(f, "uwrelay_cluster_frames_read_total %llu\n", (unsigned long long)cl->frames_read);
		promtext_head(f, "cluster_gaps_total", "counter", "Times frames had left a stream before this edge read them.");
		fprintf(f, "uwrelay_cluster_gaps_total %llu\n", (unsigned long long)cl->gaps);
	}

	promtext_head(f, "channel_frames_total", "counter", "Data frames relayed, per channel.");
	for (ch = registry_first(&r->reg, &it); ch; ch = registry_next(&r->reg, ch, &it))
		fprintf(f, "uwrelay_channel_frames_total{channel=\"%s\"} %llu\n", ch->name,
			(unsigned long long)ch->frames_in);
	promtext_head(f, "channel_bytes_total", "counter", "Bytes of upstream data frames relayed, per channel.");
	for (ch = registry_first(&r->reg, &it); ch; ch = registry_next(&r->reg, ch, &it))
		fprintf(f, "uwrelay_channel_bytes_total{channel=\"%s\"} %llu\n", ch->name,
			(unsigned long long)ch->bytes_in);
	promtext_head(f, "channel_subscribers", "gauge", "Browser subscriptions, per channel.");
	for (ch = registry_first(&r->reg, &it); ch; ch = registry_next(&r->reg, ch, &it))
		fprintf(f, "uwrelay_channel_subscribers{channel=\"%s\"} %u\n", ch->name, ch->n_members);
	promtext_head(f, "history_frames", "gauge", "Frames held for resume, per channel.");
	for (ch = registry_first(&r->reg, &it); ch; ch = registry_next(&r->reg, ch, &it))
		fprintf(f, "uwrelay_history_frames{channel=\"%s\"} %u\n", ch->name, ch->hist.count);
	promtext_head(f, "history_bytes", "gauge", "Bytes held for resume, per channel.");
	for (ch = registry_first(&r->reg, &it); ch; ch = registry_next(&r->reg, ch, &it))
		fprintf(f, "uwrelay_history_bytes{channel=\"%s\"} %zu\n", ch->name, ch->hist.bytes);

	promtext_head(f, "source_polls_total", "counter", "Requests made by REST-polled channels.");
	for (size_t k = 0; k < r->n_sources; k++)
		fprintf(f, "uwrelay_source_polls_total{channel=\"%s\"} %llu\n", r->sources[k].cfg.channel,
			(unsigned long long)r->sources[k].polls);
	promtext_head(f, "source_rows_total", "counter", "New rows published by REST-polled channels.");
	for (size_t k = 0; k < r->n_sources; k++)
		fprintf(f, "uwrelay_source_rows_total{channel=\"%s\"} %llu\n", r->sources[k].cfg.channel,
			(unsigned long long)r->sources[k].rows);
	promtext_head(f, "source_errors_total", "counter", "Failed polls (HTTP errors, network) of REST-polled channels.");
	for (size_t k = 0; k < r->n_sources; k++)
		fprintf(f, "uwrelay_source_errors_total{channel=\"%s\"} %llu\n", r->sources[k].cfg.channel,
			(unsigned long long)r->sources[k].errors);
	promtext_head(f, "source_malformed_total", "counter", "Malformed answers of REST-polled channels.");
	for (size_t k = 0; k < r->n_sources; k++)
		fprintf(f, "uwrelay_source_malformed_total{channel=\"%s\"} %llu\n", r->sources[k].cfg.channel,
			(unsigned long long)r->sources[k].malformed);

	promtext_head(f, "clients", "gauge", "Browser WebSocket connections.");
	fprintf(f, "uwrelay_clients %llu\n", (unsigned long long)r->n_sessions);
	promtext_head(f, "connections", "gauge", "Open connections on the browser port (HTTP and WebSocket).");
	fprintf(f, "uwrelay_connections %llu\n", (unsigned long long)r->n_conns);
	promtext_head(f, "pending_connections", "gauge", "Connections that have not finished a request head.");
	fprintf(f, "uwrelay_pending_connections %u\n", r->n_pending);
	promtext_head(f, "connections_dropped_total", "counter",
	     "Connections closed by the front door: evicted (oldest unfinished request, to make room), "
	     "per_ip (too many unfinished from one address), no_descriptor (out of file descriptors).");
	fprintf(f, "uwrelay_connections_dropped_total{reason=\"evicted\"} %llu\n",
		(unsigned long long)r->lis->evicted);
	fprintf(f, "uwrelay_connections_dropped_total{reason=\"per_ip\"} %llu\n",
		(unsigned long long)r->lis->refused_per_ip);
	fprintf(f, "uwrelay_connections_dropped_total{reason=\"no_descriptor\"} %llu\n",
		(unsigned long long)r->lis->no_descriptor);
	promtext_head(f, "bad_requests_total", "counter", "Request heads refused as malformed or too large.");
	fprintf(f, "uwrelay_bad_requests_total %llu\n", (unsigned long long)r->bad_requests);
	promtext_head(f, "frames_out_total", "counter", "Frames queued to browsers (one per subscriber).");
	fprintf(f, "uwrelay_frames_out_total %llu\n", (unsigned long long)r->frames_out);
	promtext_head(f, "queue_bytes", "gauge", "Bytes of frames waiting in browsers' send queues.");
	fprintf(f, "uwrelay_queue_bytes %llu\n", (unsigned long long)queue_bytes);
	promtext_head(f, "frame_bytes", "gauge", "Bytes of all live frames (queues and history share them).");
	fprintf(f, "uwrelay_frame_bytes %llu\n", (unsigned long long)frame_live_bytes());
	promtext_head(f, "slow_consumer_disconnects_total", "counter", "Browsers closed for falling too far behind.");
	fprintf(f, "uwrelay_slow_consumer_disconnects_total %llu\n", (unsigned long long)r->slow_closed);
	promtext_head(f, "filters", "gauge", "Distinct subscriber filters in use.");
	fprintf(f, "uwrelay_filters %u\n", r->filters.n);
	promtext_head(f, "filtered_subscriptions", "gauge", "Subscriptions with a filter.");
	fprintf(f, "uwrelay_filtered_subscriptions %llu\n", (unsigned long long)r->filters.refs);
	promtext_head(f, "filter_evaluations_total", "counter", "Filter evaluations (one per frame and distinct filter).");
	fprintf(f, "uwrelay_filter_evaluations_total %llu\n", (unsigned long long)r->filters.evaluations);
	promtext_head(f, "filter_skipped_total", "counter", "Deliveries a subscriber's filter held back.");
	fprintf(f, "uwrelay_filter_skipped_total %llu\n", (unsigned long long)r->filters.skipped);
	promtext_head(f, "refused_total", "counter", "Requests refused, by reason.");
	fprintf(f, "uwrelay_refused_total{reason=\"auth\"} %llu\n", (unsigned long long)r->auth_failures);
	fprintf(f, "uwrelay_refused_total{reason=\"origin\"} %llu\n", (unsigned long long)r->origin_refusals);
	fprintf(f, "uwrelay_refused_total{reason=\"host\"} %llu\n", (unsigned long long)r->host_refusals);
	fprintf(f, "uwrelay_refused_total{reason=\"limit\"} %llu\n", (unsigned long long)r->limit_refusals);
	promtext_head(f, "reloads_total", "counter", "Configuration reloads, by result.");
	fprintf(f, "uwrelay_reloads_total{result=\"ok\"} %llu\n", (unsigned long long)r->reloads);
	fprintf(f, "uwrelay_reloads_total{result=\"failed\"} %llu\n",
		(unsigned long long)r->reload_failures);

	promtext_head(f, "fanout_latency_seconds", "histogram",
	     "From receiving a frame from UW to writing it to a browser socket.");
	for (int i = 0; i < LATHIST_BUCKETS; i++) {
		cum += r->latency.buckets[i];
		if (i < LATHIST_BUCKETS - 1)
			fprintf(f, "uwrelay_fanout_latency_seconds_bucket{le=\"%g\"} %llu\n",
				(double)lathist_bound_us(i) / 1e6, (unsigned long long)cum);
		else
			fprintf(f, "uwrelay_fanout_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
				(unsigned long long)cum);
	}
	fprintf(f, "uwrelay_fanout_latency_seconds_sum %.6f\n", (double)r->latency.sum_us / 1e6);
	fprintf(f, "uwrelay_fanout_latency_seconds_count %llu\n",
		(unsigned long long)r->latency.count);
	tape_metrics(r->tape, f);
	if (r->tape_reader) {
		uint64_t q, refused, failed;

		pthread_mutex_lock(&r->tape_reader->mu);
		q = r->tape_reader->queries;
		refused = r->tape_reader->refused;
		failed = r->tape_reader->failures;
		pthread_mutex_unlock(&r->tape_reader->mu);
		promtext_head(f, "tape_reads_total", "counter",
		     "Reads of the tape for history and resume, by result (refused: the queue was full).");
		fprintf(f, "uwrelay_tape_reads_total{result=\"ok\"} %llu\n", (unsigned long long)(q - failed));
		fprintf(f, "uwrelay_tape_reads_total{result=\"failed\"} %llu\n", (unsigned long long)failed);
		fprintf(f, "uwrelay_tape_reads_total{result=\"refused\"} %llu\n", (unsigned long long)refused);
	}
	if (r->replay) {
		const struct replay *rp = r->replay;

		promtext_head(f, "replay_info", "gauge", "1 while the relay replays a tape instead of relaying UW.");
		fprintf(f, "uwrelay_replay_info{state=\"%s\"} 1\n", replay_state(rp));
		promtext_head(f, "replay_speed", "gauge", "Replay speed (1 = as recorded; 0 = unlimited).");
		fprintf(f, "uwrelay_replay_speed %g\n", rp->o.speed);
		promtext_head(f, "replay_frames_total", "counter", "Frames read from the tape and replayed.");
		fprintf(f, "uwrelay_replay_frames_total %llu\n", (unsigned long long)rp->frames);
		promtext_head(f, "replay_position_seconds", "gauge",
		     "Recorded receive time of the last frame replayed (seconds since 1970).");
		fprintf(f, "uwrelay_replay_position_seconds %.3f\n", (double)rp->position_ms / 1000.0);
		promtext_head(f, "replay_passes_total", "counter", "Passes over the tape (more than 1 with --loop).");
		fprintf(f, "uwrelay_replay_passes_total %llu\n", (unsigned long long)rp->passes);
	}
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}
