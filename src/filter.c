/* filter.c: parse a subscriber's filter, and test a payload against it.
 *
 * The parser is strict and says what is wrong in a sentence, because the
 * text comes from a URL or a message a developer typed. The matcher runs
 * once per frame for each distinct filter on a channel (filtab.c), so it
 * makes one pass over the payload's top-level members, looks only at the
 * few it needs and stops when it has them; values are compared in place
 * (numbers are copied into a small buffer for strtod, nothing else is
 * copied). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "filter.h"
#include "json_scan.h"

enum key { K_TICKERS, K_RULES, K_SIDE, K_MIN_PREMIUM, K_MIN_SIZE, K_COUNT };

/* In canonical order. */
static const char *const key_name[K_COUNT] = { "tickers", "rules", "side", "min_premium", "min_size" };

/* Which keys each kind takes, and how to say so. */
static const unsigned kind_keys[] = {
	[FILTER_KIND_NONE] = 0,
	[FILTER_KIND_FLOW] = 1u << K_TICKERS | 1u << K_RULES | 1u << K_SIDE | 1u << K_MIN_PREMIUM,
	[FILTER_KIND_TRADES] = 1u << K_TICKERS | 1u << K_SIDE | 1u << K_MIN_SIZE,
};
static const char *const kind_name[] = { "this channel", "flow-alerts", "option_trades" };
static const char *const kind_takes[] = {
	"nothing",
	"tickers, min_premium, side, rules",
	"tickers, min_size, side",
};

enum filter_kind
filter_kind_of(const char *name, size_t len)
{
	if (len == 11 && !memcmp(name, "flow-alerts", 11))
		return FILTER_KIND_FLOW;
	if (len >= 13 && !memcmp(name, "option_trades", 13) && (len == 13 || name[13] == ':'))
		return FILTER_KIND_TRADES;
	return FILTER_KIND_NONE;
}

static int
fail(char err[FILTER_ERR_MAX], const char *fmt, const char *a, const char *b)
{
	snprintf(err, FILTER_ERR_MAX, fmt, a, b);
	return -1;
}

static int
is_ticker_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

static int
is_rule_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Splits v[0..n) at ',' into items of at most maxlen characters each
 * passing ok(), upper-cased if upper; sorted, duplicates removed. Returns
 * the number of items, or -1 with err set. */
static int
parse_list(const char *key, const char *v, size_t n, char *items, size_t item_size, int max_items,
	   size_t maxlen, int (*ok)(char), int upper, char err[FILTER_ERR_MAX])
{
	const char *p = v, *end = v + n;
	int count = 0, out = 0;
	char num[16];

	for (;;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t l = (size_t)((comma ? comma : end) - p);
		char *item = items + (size_t)count * item_size;

		snprintf(num, sizeof(num), "%d", count + 1);
		if (count == max_items) {
			snprintf(num, sizeof(num), "%d", max_items);
			return fail(err, "filter: more than %s items in %s", num, key);
		}
		if (!l)
			return fail(err, "filter: item %s of %s is empty", num, key);
		if (l > maxlen)
			return fail(err, "filter: item %s of %s is too long", num, key);
		for (size_t i = 0; i < l; i++) {
			if (!ok(p[i]))
				return fail(err, "filter: item %s of %s has a character not allowed there", num, key);
			item[i] = upper && p[i] >= 'a' && p[i] <= 'z' ? (char)(p[i] - 'a' + 'A') : p[i];
		}
		item[l] = '\0';
		count++;
		if (!comma)
			break;
		p = comma + 1;
	}
	qsort(items, (size_t)count, item_size, cmp_str);
	for (int i = 0; i < count; i++)
		if (!out || strcmp(items + (size_t)(out - 1) * item_size, items + (size_t)i * item_size))
			memmove(items + (size_t)out++ * item_size, items + (size_t)i * item_size, item_size);
	return out;
}

/* A whole number of 1..maxdigits digits. Returns 0, or -1 with err set. */
static int
parse_whole(const char *key, const char *v, size_t n, size_t maxdigits, uint64_t *out,
	    char err[FILTER_ERR_MAX])
{
	uint64_t x = 0;

	if (n > maxdigits)
		return fail(err, "filter: %s is too large%s", key, "");
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return fail(err, "filter: %s must be a whole number of dollars or contracts%s", key, "");
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return 0;
}

/* Appends s to the canonical text at *o (room was checked by the caller). */
static void
canon_put(struct filter *f, size_t *o, const char *s)
{
	size_t n = strlen(s);

	if (*o + n > FILTER_MAX_LEN)
		n = FILTER_MAX_LEN - *o;
	memcpy(f->canon + *o, s, n);
	*o += n;
	f->canon[*o] = '\0';
}

/* The canonical text: keys in key_name order, lists sorted and without
 * duplicates, numbers without leading zeros. Never longer than the text it
 * came from (same keys and separators, items only removed or shortened),
 * so it fits FILTER_MAX_LEN. */
static void
canonicalize(struct filter *f, unsigned seen)
{
	size_t o = 0;
	char num[24];

	f->canon[0] = '\0';
	for (int k = 0; k < K_COUNT; k++) {
		if (!(seen & 1u << k))
			continue;
		if (o)
			canon_put(f, &o, ";");
		canon_put(f, &o, key_name[k]);
		canon_put(f, &o, ":");
		switch (k) {
		case K_TICKERS:
			for (int i = 0; i < f->n_tickers; i++) {
				if (i)
					canon_put(f, &o, ",");
				canon_put(f, &o, f->tickers[i]);
			}
			break;
		case K_RULES:
			for (int i = 0; i < f->n_rules; i++) {
				if (i)
					canon_put(f, &o, ",");
				canon_put(f, &o, f->rules[i]);
			}
			break;
		case K_SIDE:
			canon_put(f, &o, f->side == FILTER_SIDE_CALL ? "call" : "put");
			break;
		case K_MIN_PREMIUM:
		case K_MIN_SIZE:
			snprintf(num, sizeof(num), "%llu",
				 (unsigned long long)(k == K_MIN_PREMIUM ? f->min_premium : f->min_size));
			canon_put(f, &o, num);
			break;
		}
	}
}

int
filter_parse(enum filter_kind kind, const char *text, size_t len, struct filter *f,
	     char err[FILTER_ERR_MAX])
{
	const char *p = text, *end = text + len;
	unsigned seen = 0;
	int clause = 0;

	memset(f, 0, sizeof(*f));
	f->kind = kind;
	err[0] = '\0';
	if (kind == FILTER_KIND_NONE)
		return fail(err, "filter: this channel takes no filter (filters apply to %s and %s)",
			    "flow-alerts", "option_trades");
	if (!len)
		return fail(err, "filter: empty filter%s%s", "", "");
	if (len > FILTER_MAX_LEN)
		return fail(err, "filter: longer than %s bytes%s", "512", "");
	for (;;) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *cend = semi ? semi : end;
		const char *colon = memchr(p, ':', (size_t)(cend - p));
		char num[16], shown[32];
		const char *v;
		size_t kl, vl;
		int k, n;

		snprintf(num, sizeof(num), "%d", ++clause);
		if (!colon)
			return fail(err, "filter: clause %s is not key:value%s", num, "");
		kl = (size_t)(colon - p);
		v = colon + 1;
		vl = (size_t)(cend - v);
		for (k = 0; k < K_COUNT; k++)
			if (strlen(key_name[k]) == kl && !memcmp(key_name[k], p, kl))
				break;
		if (k == K_COUNT) {
			/* echo the key only when it cannot be anything but a word */
			size_t i = 0;

			while (i < kl && i < 24 && ((p[i] >= 'a' && p[i] <= 'z') || p[i] == '_'))
				i++;
			if (kl && i == kl) {
				snprintf(shown, sizeof(shown), "\"%.*s\"", (int)kl, p);
				snprintf(err, FILTER_ERR_MAX, "filter: unknown key %s (%s takes %s)", shown,
					 kind_name[kind], kind_takes[kind]);
			} else
				snprintf(err, FILTER_ERR_MAX, "filter: clause %s has an unknown key (%s takes %s)",
					 num, kind_name[kind], kind_takes[kind]);
			return -1;
		}
		if (!(kind_keys[kind] & 1u << k)) {
			snprintf(err, FILTER_ERR_MAX, "filter: %s does not apply to %s (it takes %s)", key_name[k],
				 kind_name[kind], kind_takes[kind]);
			return -1;
		}
		if (seen & 1u << k)
			return fail(err, "filter: %s is given twice%s", key_name[k], "");
		seen |= 1u << k;
		if (!vl)
			return fail(err, "filter: %s has no value%s", key_name[k], "");
		switch (k) {
		case K_TICKERS:
			n = parse_list("tickers", v, vl, &f->tickers[0][0], sizeof(f->tickers[0]),
				       FILTER_MAX_TICKERS, FILTER_TICKER_MAX, is_ticker_char, 1, err);
			if (n < 0)
				return -1;
			f->n_tickers = (uint8_t)n;
			break;
		case K_RULES:
			n = parse_list("rules", v, vl, &f->rules[0][0], sizeof(f->rules[0]), FILTER_MAX_RULES,
				       FILTER_RULE_MAX, is_rule_char, 0, err);
			if (n < 0)
				return -1;
			f->n_rules = (uint8_t)n;
			break;
		case K_SIDE:
			if (vl == 4 && !memcmp(v, "call", 4))
				f->side = FILTER_SIDE_CALL;
			else if (vl == 3 && !memcmp(v, "put", 3))
				f->side = FILTER_SIDE_PUT;
			else
				return fail(err, "filter: side must be call or put%s%s", "", "");
			break;
		case K_MIN_PREMIUM:
			if (parse_whole("min_premium", v, vl, 15, &f->min_premium, err))
				return -1;
			f->has_min_premium = 1;
			break;
		case K_MIN_SIZE:
			if (parse_whole("min_size", v, vl, 12, &f->min_size, err))
				return -1;
			f->has_min_size = 1;
			break;
		}
		if (!semi)
			break;
		p = semi + 1;
	}
	canonicalize(f, seen);
	return 0;
}

/* ---- matching ---- */

/* A member's value: its bytes, and for a string the contents without the
 * quotes (str set, esc if it has backslash escapes). */
struct val {
	const char *p;
	size_t n;
	uint8_t str, esc, found;
};

enum field { F_TICKER, F_RULE, F_SIDE, F_PREMIUM, F_SIZE, F_COUNT };

static int
key_is(const char *k, size_t kl, const char *name)
{
	return strlen(name) == kl && !memcmp(k, name, kl);
}

/* A number, as a JSON number or a string holding one ("36466.00").
 * strtod needs a terminated copy: on the stack, or for an absurdly long
 * one (UW's are a few digits) on the heap, so no length is refused. */
static int
number_of(const struct val *v, double *out)
{
	char small[64], *buf = small, *e;
	int ok;

	if (!v->found || v->esc || !v->n)
		return 0;
	for (size_t i = 0; i < v->n; i++)
		if (!v->p[i] || !strchr("0123456789.eE+-", v->p[i]))
			return 0;
	if (v->n >= sizeof(small) && !(buf = malloc(v->n + 1)))
		return 0;
	memcpy(buf, v->p, v->n);
	buf[v->n] = '\0';
	*out = strtod(buf, &e);
	ok = e == buf + v->n && isfinite(*out);
	if (buf != small)
		free(buf);
	return ok;
}

static int
upper_eq(const char *a, size_t n, const char *upper)
{
	for (size_t i = 0; i < n; i++) {
		char c = a[i] >= 'a' && a[i] <= 'z' ? (char)(a[i] - 'a' + 'A') : a[i];

		if (c != upper[i] || !upper[i])
			return 0;
	}
	return upper[n] == '\0';
}

/* The side a value says: from an OCC symbol (ROOT YYMMDD C|P 8 digits)
 * or a word ("call", "put"). */
static enum filter_side
side_of(const struct val *v, int occ)
{
	if (!v->found || !v->str || v->esc)
		return FILTER_SIDE_ANY;
	if (occ) {
		if (v->n < 15)
			return FILTER_SIDE_ANY;
		for (size_t i = v->n - 8; i < v->n; i++)
			if (v->p[i] < '0' || v->p[i] > '9')
				return FILTER_SIDE_ANY;
		if (v->p[v->n - 9] == 'C')
			return FILTER_SIDE_CALL;
		if (v->p[v->n - 9] == 'P')
			return FILTER_SIDE_PUT;
		return FILTER_SIDE_ANY;
	}
	if (v->n == 4 && !memcmp(v->p, "call", 4))
		return FILTER_SIDE_CALL;
	if (v->n == 3 && !memcmp(v->p, "put", 3))
		return FILTER_SIDE_PUT;
	return FILTER_SIDE_ANY;
}

/* 1 if member i's value v satisfies f's clause on it. */
static int
field_ok(const struct filter *f, int i, const struct val *v)
{
	double x;

	switch (i) {
	case F_TICKER:
		if (!v->str || v->esc)
			return 0;
		for (int k = 0; k < f->n_tickers; k++)
			if (upper_eq(v->p, v->n, f->tickers[k]))
				return 1;
		return 0;
	case F_RULE:
		if (!v->str || v->esc)
			return 0;
		for (int k = 0; k < f->n_rules; k++)
			if (strlen(f->rules[k]) == v->n && !memcmp(f->rules[k], v->p, v->n))
				return 1;
		return 0;
	case F_SIDE:
		return side_of(v, f->kind == FILTER_KIND_FLOW) == f->side;
	case F_PREMIUM:
		return number_of(v, &x) && x >= (double)f->min_premium;
	case F_SIZE:
		return number_of(v, &x) && x >= (double)f->min_size;
	}
	return 0;
}

/* Walks the top-level members of the object payload[0..len) once,
 * testing each member f needs as soon as it is seen: the first that fails
 * ends the walk (most frames fail most filters, often on the ticker, the
 * third member of a flow alert), and so does having seen them all. Text
 * after that point is not read. Returns 1 if every needed member was
 * there and passed, 0 otherwise (also for text that is not an object). */
static int
scan(const struct filter *f, const char *payload, size_t len, const char *const names[F_COUNT],
     unsigned need)
{
	const char *p = payload, *end = payload + len;
	unsigned found = 0;

	p = json_ws(p, end);
	if (p >= end || *p != '{')
		return 0;
	p = json_ws(p + 1, end);
	if (p < end && *p == '}')
		return !need;
	for (;;) {
		const char *k, *q, *vs;
		size_t kl;
		int esc = 0;

		if (p >= end || *p != '"')
			return 0;
		k = p + 1;
		q = json_skip_string(p, end, NULL);
		if (!q)
			return 0;
		kl = (size_t)(q - 1 - k);
		p = json_ws(q, end);
		if (p >= end || *p != ':')
			return 0;
		vs = json_ws(p + 1, end);
		if (vs < end && *vs == '"')
			p = json_skip_string(vs, end, &esc);
		else
			p = json_skip_value(vs, end);
		if (!p)
			return 0;
		for (int i = 0; i < F_COUNT; i++)
			if ((need & ~found & 1u << i) && names[i] && key_is(k, kl, names[i])) {
				struct val v = {
					.str = *vs == '"', .esc = (uint8_t)esc,
					.p = *vs == '"' ? vs + 1 : vs,
					.n = (size_t)(p - vs) - (*vs == '"' ? 2 : 0), .found = 1,
				};

				if (!field_ok(f, i, &v))
					return 0;
				found |= 1u << i;
			}
		if (found == need)
			return 1;
		p = json_ws(p, end);
		if (p < end && *p == ',') {
			p = json_ws(p + 1, end);
			continue;
		}
		return 0;	/* the end (a needed member missing), or not JSON */
	}
}

int
filter_match(const struct filter *f, const char *payload, size_t len)
{
	static const char *const flow_names[F_COUNT] = { "ticker", "rule_name", "option_chain",
							 "total_premium", NULL };
	static const char *const trade_names[F_COUNT] = { "underlying_symbol", NULL, "option_type", NULL,
							  "size" };
	unsigned need = 0;

	if (f->kind == FILTER_KIND_NONE)
		return 0;
	if (f->n_tickers)
		need |= 1u << F_TICKER;
	if (f->n_rules)
		need |= 1u << F_RULE;
	if (f->side != FILTER_SIDE_ANY)
		need |= 1u << F_SIDE;
	if (f->has_min_premium)
		need |= 1u << F_PREMIUM;
	if (f->has_min_size)
		need |= 1u << F_SIZE;
	return scan(f, payload, len, f->kind == FILTER_KIND_FLOW ? flow_names : trade_names, need);
}

int
filter_envelope_payload(const char *env, size_t len, const char **payload, size_t *plen)
{
	static const char key[] = "\"data\":";
	const size_t kl = sizeof(key) - 1;

	/* the channel is a plain name, the epoch hex, the timestamp fixed, so
	 * the first "data": is the member's key, never text inside a value */
	if (len < 2 || env[0] != '{' || env[len - 1] != '}')
		return -1;
	for (size_t i = 1; i + kl < len; i++)
		if (env[i] == '"' && !memcmp(env + i, key, kl)) {
			*payload = env + i + kl;
			*plen = len - 1 - (i + kl);
			return 0;
		}
	return -1;
}
