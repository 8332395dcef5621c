/* envelope.c: build each outgoing message once, payload spliced verbatim. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "envelope.h"

void
envelope_time(int64_t ms, char out[25])
{
	time_t secs = (time_t)(ms / 1000);
	int msec = (int)(ms % 1000);
	struct tm tm;

	if (msec < 0) {
		msec += 1000;
		secs--;
	}
	gmtime_r(&secs, &tm);
	snprintf(out, 25, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
		 (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
		 (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
		 (unsigned)tm.tm_sec % 100u, (unsigned)msec % 1000u);
}

struct frame *
envelope_data(const char *channel, size_t channel_len, uint64_t seq, const char *epoch,
	      int64_t recv_ms, const char *payload, size_t payload_len)
{
	char head[64 + 2 * 64 + 64], ts[25];
	int hl;
	struct frame *f;

	if (channel_len > 64)
		return NULL;
	envelope_time(recv_ms, ts);
	hl = snprintf(head, sizeof(head),
		      "{\"channel\":\"%.*s\",\"seq\":%llu,\"epoch\":\"%s\",\"timestamp\":\"%s\",\"data\":",
		      (int)channel_len, channel, (unsigned long long)seq, epoch, ts);
	if (hl < 0 || (size_t)hl >= sizeof(head))
		return NULL;
	f = frame_new((size_t)hl + payload_len + 1);
	if (!f)
		return NULL;
	memcpy(frame_data(f), head, (size_t)hl);
	memcpy(frame_data(f) + hl, payload, payload_len);
	frame_data(f)[(size_t)hl + payload_len] = '}';
	f->seq = seq;
	frame_seal(f);
	return f;
}

struct frame *
envelope_notice(const char *epoch, int64_t now_ms, const char *data_json)
{
	char ts[25];
	size_t dl = strlen(data_json);
	int n;
	struct frame *f;

	envelope_time(now_ms, ts);
	n = snprintf(NULL, 0, "{\"channel\":\"" RELAY_CHANNEL "\",\"epoch\":\"%s\",\"timestamp\":\"%s\",\"data\":",
		     epoch, ts);
	if (n < 0)
		return NULL;
	f = frame_new((size_t)n + dl + 1);
	if (!f)
		return NULL;
	snprintf((char *)frame_data(f), (size_t)n + 1,
		 "{\"channel\":\"" RELAY_CHANNEL "\",\"epoch\":\"%s\",\"timestamp\":\"%s\",\"data\":", epoch, ts);
	memcpy(frame_data(f) + n, data_json, dl);
	frame_data(f)[(size_t)n + dl] = '}';
	frame_seal(f);
	return f;
}
