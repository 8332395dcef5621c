/* sseenc.c: envelopes as text/event-stream events (see sseenc.h). */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "envelope.h"
#include "query.h"
#include "sseenc.h"

#define NOTICE_PREFIX "{\"channel\":\"" RELAY_CHANNEL "\""
#define EVENT_NAME_MAX 32

/* The notice's data.type if it is a plain word, else "relay": the name
 * goes on an event: line, so it must hold no line break. */
static void
notice_name(const struct frame *f, char name[EVENT_NAME_MAX + 1])
{
	cJSON *root = cJSON_ParseWithLength((const char *)f->buf + FRAME_PRE, f->len);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "data"),
							  "type");
	size_t n = cJSON_IsString(t) ? strlen(t->valuestring) : 0;

	strcpy(name, "relay");
	if (n && n <= EVENT_NAME_MAX && strspn(t->valuestring,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == n)
		memcpy(name, t->valuestring, n + 1);
	cJSON_Delete(root);
}

/* The id of a data envelope, "<epoch>:<seq>", read from the envelope
 * itself (envelope.c writes the epoch right after the seq), so a channel
 * with an epoch of its own carries it. 0, or -1 if there is none. */
static int
data_id(const struct frame *f, char *out, size_t cap)
{
	const char *d = (const char *)f->buf + FRAME_PRE;
	size_t scan = f->len < 256 ? f->len : 256;
	const char *key = "\"epoch\":\"", *p = NULL;

	for (size_t i = 0; i + strlen(key) + 17 <= scan; i++)
		if (!memcmp(d + i, key, strlen(key))) {
			p = d + i + strlen(key);
			break;
		}
	if (!p || p[16] != '"')
		return -1;
	snprintf(out, cap, "%.16s:%llu", p, (unsigned long long)f->seq);
	return 0;
}

const unsigned char *
sseenc_event(struct frame *f, size_t *len)
{
	const char *d = (const char *)f->buf + FRAME_PRE, *end = d + f->len, *p;
	char head[64 + EVENT_NAME_MAX];
	size_t lines = 1, hl, cap;
	char *out, *o;

	if (f->sse) {
		*len = f->sse_len;
		return f->sse;
	}
	if (f->len >= sizeof(NOTICE_PREFIX) - 1 && !memcmp(d, NOTICE_PREFIX, sizeof(NOTICE_PREFIX) - 1)) {
		char name[EVENT_NAME_MAX + 1];

		notice_name(f, name);
		snprintf(head, sizeof(head), "event: %s\n", name);
	} else {
		char id[48];

		if (data_id(f, id, sizeof(id)))
			head[0] = '\0';
		else
			snprintf(head, sizeof(head), "id: %s\n", id);
	}
	hl = strlen(head);
	for (p = d; p < end; p++)
		lines += *p == '\n' || (*p == '\r' && (p + 1 == end || p[1] != '\n'));
	cap = hl + f->len + lines * 7 + 2;
	if (cap > UINT32_MAX)
		return NULL;
	out = malloc(FRAME_PRE + cap);
	if (!out)
		return NULL;
	out += FRAME_PRE;	/* headroom for lws_write(), as in every frame */
	memcpy(out, head, hl);
	o = out + hl;
	/* one data: line per line of the message; CR, LF and CRLF all end a
	 * line for an SSE parser, so each becomes one LF */
	for (p = d;;) {
		const char *q = p;

		while (q < end && *q != '\n' && *q != '\r')
			q++;
		memcpy(o, "data: ", 6);
		o += 6;
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		*o++ = '\n';
		if (q == end)
			break;
		p = q + 1 + (*q == '\r' && q + 1 < end && q[1] == '\n');
		if (p == end) {
			/* a trailing line break: an empty last line keeps it */
			memcpy(o, "data: \n", 7);
			o += 7;
			break;
		}
	}
	*o++ = '\n';
	f->sse = (unsigned char *)out;
	f->sse_len = (uint32_t)(o - out);
	*len = f->sse_len;
	return f->sse;
}

int
sseenc_last_event_id(const char *v, size_t n, char epoch[17], uint64_t *seq)
{
	uint64_t s = 0;

	if (n < 18 || v[16] != ':')
		return -1;
	for (size_t i = 0; i < 16; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
			return -1;
	for (size_t i = 17; i < n; i++) {
		if (v[i] < '0' || v[i] > '9' || s > (UINT64_MAX - (uint64_t)(v[i] - '0')) / 10)
			return -1;
		s = s * 10 + (uint64_t)(v[i] - '0');
	}
	memcpy(epoch, v, 16);
	epoch[16] = '\0';
	*seq = s;
	return 0;
}

long
sseenc_resume_query(const char *qs, size_t qlen, const char *epoch, uint64_t seq, char *out,
		    size_t cap)
{
	struct query_item it;
	size_t pos = 0, o = 0;
	int n;

	while (qs && query_next(qs, qlen, &pos, &it)) {
		size_t il = it.value ? (size_t)(it.value + it.value_len - it.name) : it.name_len;

		if ((it.name_len == 5 && !memcmp(it.name, "since", 5)) ||
		    (it.name_len == 5 && !memcmp(it.name, "epoch", 5)))
			continue;
		if (o + il + 1 >= cap)
			return -1;
		memcpy(out + o, it.name, il);
		o += il;
		out[o++] = '&';
	}
	n = snprintf(out + o, cap - o, "since=%llu&epoch=%s", (unsigned long long)seq, epoch);
	if (n < 0 || (size_t)n >= cap - o)
		return -1;
	return (long)(o + (size_t)n);
}
