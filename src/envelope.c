/* envelope.c: build each outgoing message once, payload spliced verbatim. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "envelope.h"

/* Writes n as exactly `width` decimal digits. */
static char *
put_digits(char *o, unsigned n, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		o[i] = (char)('0' + n % 10);
		n /= 10;
	}
	return o + width;
}

/* The civil date of a day count since 1970-01-01 (proleptic Gregorian;
 * H. Hinnant's civil_from_days): formatting runs once per upstream frame,
 * and gmtime_r() takes glibc's time zone lock each call. */
static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era, yy;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	yy = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yy + (*m <= 2);
}

void
envelope_time(int64_t ms, char out[25])
{
	int64_t secs = ms / 1000, days, y;
	int msec = (int)(ms % 1000), sod;
	unsigned mo, d;
	char *o = out;

	if (msec < 0) {
		msec += 1000;
		secs--;
	}
	days = secs / 86400;
	sod = (int)(secs % 86400);
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	civil_from_days(days, &y, &mo, &d);
	/* the same ranges the old "%04u" of tm_year + 1900 gave */
	o = put_digits(o, (unsigned)(((y % 10000) + 10000) % 10000), 4);
	*o++ = '-';
	o = put_digits(o, mo, 2);
	*o++ = '-';
	o = put_digits(o, d, 2);
	*o++ = 'T';
	o = put_digits(o, (unsigned)(sod / 3600), 2);
	*o++ = ':';
	o = put_digits(o, (unsigned)(sod / 60 % 60), 2);
	*o++ = ':';
	o = put_digits(o, (unsigned)(sod % 60), 2);
	*o++ = '.';
	o = put_digits(o, (unsigned)msec, 3);
	*o++ = 'Z';
	*o = '\0';
}

/* Appends s[0..n) at o. */
static char *
put(char *o, const char *s, size_t n)
{
	memcpy(o, s, n);
	return o + n;
}

#define PUT_LIT(o, lit) put((o), (lit), sizeof(lit) - 1)

size_t
envelope_head(char out[ENVELOPE_HEAD_MAX], const char *channel, size_t channel_len, uint64_t seq,
	      const char *epoch, int64_t recv_ms)
{
	char ts[25], digits[20], *o = out;
	size_t nd = 0, el = strlen(epoch);
	uint64_t n = seq;

	if (channel_len > 64 || el > 64)
		return 0;
	envelope_time(recv_ms, ts);
	do {
		digits[sizeof(digits) - ++nd] = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	/* {"channel":"C","seq":N,"epoch":"E","timestamp":"T","data": */
	o = PUT_LIT(o, "{\"channel\":\"");
	o = put(o, channel, channel_len);
	o = PUT_LIT(o, "\",\"seq\":");
	o = put(o, digits + sizeof(digits) - nd, nd);
	o = PUT_LIT(o, ",\"epoch\":\"");
	o = put(o, epoch, el);
	o = PUT_LIT(o, "\",\"timestamp\":\"");
	o = put(o, ts, 24);
	o = PUT_LIT(o, "\",\"data\":");
	return (size_t)(o - out);
}

struct frame *
envelope_data(const char *channel, size_t channel_len, uint64_t seq, const char *epoch,
	      int64_t recv_ms, const char *payload, size_t payload_len)
{
	char head[ENVELOPE_HEAD_MAX];
	size_t hl = envelope_head(head, channel, channel_len, seq, epoch, recv_ms);
	struct frame *f;

	if (!hl)
		return NULL;
	f = frame_new(hl + payload_len + 1);
	if (!f)
		return NULL;
	memcpy(frame_data(f), head, hl);
	memcpy(frame_data(f) + hl, payload, payload_len);
	frame_data(f)[hl + payload_len] = '}';
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
