/* test_sseenc.c: envelopes as text/event-stream events, Last-Event-ID. */
#include "envelope.h"
#include "frame.h"
#include "sseenc.h"
#include "check.h"

#define EPOCH "9f2c4a1be07d3e55"

/* A strict reader of one event (WHATWG HTML 9.2.6): lines end at CR, LF or
 * CRLF; "field: value" (one optional space); data lines joined with LF,
 * the last LF dropped when the event is dispatched by an empty line.
 * Returns 1 with id/event/data filled if ev[0..n) is exactly one event. */
static int
read_event(const unsigned char *ev, size_t n, char *id, char *event, char *data, size_t cap)
{
	const char *p = (const char *)ev, *end = p + n;
	size_t dl = 0;

	id[0] = event[0] = data[0] = '\0';
	while (p < end) {
		const char *e = p, *colon, *v;
		char field[16];
		size_t fl, vl;

		while (e < end && *e != '\r' && *e != '\n')
			e++;
		if (e == end)
			return 0;	/* an unterminated line */
		if (e == p) {	/* empty line: dispatch; it must be the last */
			p = e + 1 + (*e == '\r' && e + 1 < end && e[1] == '\n');
			if (p != end)
				return 0;
			if (dl)
				data[--dl] = '\0';
			return 1;
		}
		colon = memchr(p, ':', (size_t)(e - p));
		fl = colon ? (size_t)(colon - p) : (size_t)(e - p);
		v = colon ? colon + 1 : e;
		if (v < e && *v == ' ')
			v++;
		vl = (size_t)(e - v);
		if (fl && fl < sizeof(field)) {
			memcpy(field, p, fl);
			field[fl] = '\0';
			if (!strcmp(field, "data")) {
				if (dl + vl + 2 > cap)
					return 0;
				memcpy(data + dl, v, vl);
				dl += vl;
				data[dl++] = '\n';
				data[dl] = '\0';
			} else if (!strcmp(field, "id") && vl < 64) {
				memcpy(id, v, vl);
				id[vl] = '\0';
			} else if (!strcmp(field, "event") && vl < 64) {
				memcpy(event, v, vl);
				event[vl] = '\0';
			}
		}
		p = e + 1 + (*e == '\r' && e + 1 < end && e[1] == '\n');
	}
	return 0;
}

static void
sseenc_data_envelope_has_id_and_one_data_line(void)
{
	const char *payload = "{\"ticker\":\"DIA\",\"total_premium\":36466}";
	struct frame *f = envelope_data("flow-alerts", 11, 123, EPOCH, 1764081000123, payload,
					strlen(payload));
	char id[64], ev[64], data[512];
	size_t n, n2;
	const unsigned char *e = sseenc_event(f, &n);

	CHECK(e != NULL);
	CHECK(read_event(e, n, id, ev, data, sizeof(data)));
	CHECK_STR(id, EPOCH ":123");
	CHECK_STR(ev, "");
	/* the data is the WebSocket message, byte for byte */
	CHECK_MEM(data, strlen(data), (const char *)frame_data(f), f->len);
	CHECK(!memcmp(e, "id: " EPOCH ":123\ndata: {", 30));
	CHECK(e[n - 1] == '\n' && e[n - 2] == '\n');
	/* built once, then shared */
	CHECK(sseenc_event(f, &n2) == e);
	CHECK_EQ_UINT(n2, n);
	frame_unref(f);
}

static void
sseenc_notice_named_by_type_without_id(void)
{
	struct frame *f = envelope_notice(EPOCH, 1764081000123,
					  "{\"type\":\"gap\",\"channel\":\"news\",\"reason\":\"too_old\"}");
	char id[64], ev[64], data[512];
	size_t n;
	const unsigned char *e = sseenc_event(f, &n);

	CHECK(read_event(e, n, id, ev, data, sizeof(data)));
	CHECK_STR(ev, "gap");
	CHECK_STR(id, "");	/* a notice leaves Last-Event-ID where it was */
	CHECK_MEM(data, strlen(data), (const char *)frame_data(f), f->len);
	frame_unref(f);
}

static void
sseenc_notice_with_odd_type_is_relay(void)
{
	struct frame *f = envelope_notice(EPOCH, 1, "{\"type\":\"a\\nb\"}");
	struct frame *g = envelope_notice(EPOCH, 1, "{\"code\":1}");
	char id[64], ev[64], data[512];
	size_t n;

	const unsigned char *e = sseenc_event(f, &n);

	CHECK(read_event(e, n, id, ev, data, sizeof(data)));
	CHECK_STR(ev, "relay");
	e = sseenc_event(g, &n);
	CHECK(read_event(e, n, id, ev, data, sizeof(data)));
	CHECK_STR(ev, "relay");
	frame_unref(f);
	frame_unref(g);
}

/* A payload with every kind of line break reads back with LF for each. */
static void
sseenc_multiline_payload_round_trips(void)
{
	const char *payload = "{\n  \"a\": 1,\r\n  \"b\": [\r2]\n}\n";
	const char *want_data = "{\n  \"a\": 1,\n  \"b\": [\n2]\n}\n";
	struct frame *f = envelope_data("news", 4, 7, EPOCH, 0, payload, strlen(payload));
	char id[64], ev[64], data[512], want[512];
	size_t n, lines = 0;
	const unsigned char *e = sseenc_event(f, &n);

	CHECK(read_event(e, n, id, ev, data, sizeof(data)));
	CHECK_STR(id, EPOCH ":7");
	/* the envelope around it, line breaks as LF */
	snprintf(want, sizeof(want), "%.*s%s}", (int)(strstr((const char *)frame_data(f), "{\n") -
						   (const char *)frame_data(f)),
		 (const char *)frame_data(f), want_data);
	CHECK_STR(data, want);
	for (size_t i = 0; i < n; i++)
		lines += e[i] == '\n';
	CHECK_EQ_UINT(lines, 1 + 6 + 1);	/* id, six data lines, the blank */
	CHECK(memchr(e, '\r', n) == NULL);
	frame_unref(f);
}

static void
sseenc_last_event_id_parses_epoch_and_seq(void)
{
	char epoch[17];
	uint64_t seq = 0;

	CHECK_EQ_INT(sseenc_last_event_id(EPOCH ":42", 19, epoch, &seq), 0);
	CHECK_STR(epoch, EPOCH);
	CHECK_EQ_UINT(seq, 42);
	CHECK_EQ_INT(sseenc_last_event_id(EPOCH ":18446744073709551615", 37, epoch, &seq), 0);
	CHECK_EQ_UINT(seq, UINT64_MAX);
}

static void
sseenc_last_event_id_refuses_other_forms(void)
{
	char epoch[17];
	uint64_t seq = 5;
	static const char *const bad[] = {
		"", "42", EPOCH, EPOCH ":", EPOCH ":-1", EPOCH ":1x", EPOCH "42",
		"9F2C4A1BE07D3E55:1", "9f2c4a1be07d3e5:1", "9f2c4a1be07d3e55 :1",
		EPOCH ":18446744073709551616", EPOCH ":99999999999999999999999",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ_INT(sseenc_last_event_id(bad[i], strlen(bad[i]), epoch, &seq), -1);
	CHECK_EQ_UINT(seq, 5);	/* untouched */
}

static void
sseenc_resume_query_replaces_since_and_epoch(void)
{
	char out[256];
	const char *q = "since=3&channels=a,b&epoch=0000000000000000&access_token=x";
	long n = sseenc_resume_query(q, strlen(q), EPOCH, 99, out, sizeof(out));

	CHECK_EQ_INT(n, (long)strlen(out));
	CHECK_STR(out, "channels=a,b&access_token=x&since=99&epoch=" EPOCH);
	n = sseenc_resume_query(NULL, 0, EPOCH, 1, out, sizeof(out));
	CHECK_STR(out, "since=1&epoch=" EPOCH);
	CHECK_EQ_INT(sseenc_resume_query(q, strlen(q), EPOCH, 99, out, 40), -1);
}

static void
sseenc_no_frame_left_alive(void)
{
	CHECK_EQ_UINT(frame_live_count(), 0);
	CHECK_NO_LEAKS();
}

CHECK_MAIN(
	CHECK_TEST(sseenc_data_envelope_has_id_and_one_data_line),
	CHECK_TEST(sseenc_notice_named_by_type_without_id),
	CHECK_TEST(sseenc_notice_with_odd_type_is_relay),
	CHECK_TEST(sseenc_multiline_payload_round_trips),
	CHECK_TEST(sseenc_last_event_id_parses_epoch_and_seq),
	CHECK_TEST(sseenc_last_event_id_refuses_other_forms),
	CHECK_TEST(sseenc_resume_query_replaces_since_and_epoch),
	CHECK_TEST(sseenc_no_frame_left_alive))
