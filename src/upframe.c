/* upframe.c: classify a UW frame as data, ack or malformed, without copying. */
#include <string.h>
#include "json_scan.h"
#include "upframe.h"

/* An ack payload is small; anything bigger is data without looking. */
#define ACK_MAX_LEN 512

static int
key_is(const char *k, const char *kend, const char *lit)
{
	size_t n = strlen(lit);

	return (size_t)(kend - k) == n + 2 && !memcmp(k + 1, lit, n);
}

/* An ack is an object with exactly the members "response" and "status",
 * status a string: UW's `{"response":{},"status":"ok"}`. */
static int
detect_ack(struct upframe *f)
{
	const char *p = f->payload, *end = p + f->payload_len, *k, *kend, *v, *vend;
	int seen_resp = 0, seen_status = 0, esc = 0;

	if (f->payload_len > ACK_MAX_LEN || *p != '{')
		return 0;
	p = json_ws(p + 1, end);
	while (p < end && *p == '"') {
		k = p;
		kend = json_skip_string(p, end, &esc);
		if (!kend || esc)
			return 0;
		p = json_ws(kend, end);
		if (p >= end || *p != ':')
			return 0;
		v = json_ws(p + 1, end);
		vend = json_skip_value(v, end);
		if (!vend)
			return 0;
		if (key_is(k, kend, "response") && !seen_resp)
			seen_resp = 1;
		else if (key_is(k, kend, "status") && !seen_status && *v == '"') {
			seen_status = 1;
			f->ack_status = v + 1;
			f->ack_status_len = (size_t)(vend - v) - 2;
		} else
			return 0;
		p = json_ws(vend, end);
		if (p < end && *p == ',')
			p = json_ws(p + 1, end);
		else
			break;
	}
	if (!seen_resp || !seen_status)
		return 0;
	f->ack_ok = f->ack_status_len == 2 && !memcmp(f->ack_status, "ok", 2);
	return 1;
}

static enum upframe_kind
bad(struct upframe *f, const char *why)
{
	f->kind = UPFRAME_MALFORMED;
	f->error = why;
	return f->kind;
}

enum upframe_kind
upframe_parse(const char *buf, size_t len, struct upframe *f)
{
	const char *p = buf, *end = buf + len, *q;

	memset(f, 0, sizeof(*f));
	p = json_ws(p, end);
	if (p >= end)
		return bad(f, "empty frame");
	if (*p != '[')
		return json_valid(buf, len) ? bad(f, "not an array") : bad(f, "invalid JSON");
	p = json_ws(p + 1, end);
	if (p >= end || *p != '"')
		return json_valid(buf, len) ? bad(f, "channel is not a string") :
					      bad(f, "invalid JSON");
	q = json_skip_string(p, end, &f->channel_escaped);
	if (!q)
		return bad(f, "invalid JSON");
	f->channel = p + 1;
	f->channel_len = (size_t)(q - p) - 2;
	p = json_ws(q, end);
	if (p >= end || *p != ',')
		return json_valid(buf, len) ? bad(f, "not a two-element array") :
					      bad(f, "invalid JSON");
	p = json_ws(p + 1, end);
	q = json_skip_value(p, end);
	if (!q)
		return bad(f, "invalid JSON");
	f->payload = p;
	f->payload_len = (size_t)(q - p);
	p = json_ws(q, end);
	if (p < end && *p == ',')
		return json_valid(buf, len) ? bad(f, "not a two-element array") :
					      bad(f, "invalid JSON");
	if (p >= end || *p != ']')
		return bad(f, "invalid JSON");
	if (json_ws(p + 1, end) != end)
		return bad(f, "invalid JSON");
	if (!f->channel_len)
		return bad(f, "empty channel");
	if (*f->payload != '{')
		return bad(f, "payload is not a JSON object");
	f->kind = detect_ack(f) ? UPFRAME_ACK : UPFRAME_DATA;
	return f->kind;
}
