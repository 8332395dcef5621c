/* libFuzzer target: subscribers' filters and the payload matcher.
 *
 * Input: one byte choosing the channel kind, the filter text up to the
 * first newline, then a payload. Checks: an error is printable ASCII and
 * names no input byte beyond a plain key; an accepted filter's canonical
 * form fits, is never longer than the text, parses to itself and matches
 * exactly what the text matches; on a payload that is a valid JSON object
 * without escapes (judged by cJSON and jsonref_lex, not json_scan), the
 * match equals an independent evaluation through cJSON's tree. */
#include <cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "filter.h"
#include "json_scan.h"
#include "jsonref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A number from a JSON number or a string holding one, as filter.c reads it. */
static int
oracle_number(const cJSON *v, double *out)
{
	const char *s;
	char *e;

	if (cJSON_IsNumber(v)) {
		*out = v->valuedouble;
		return isfinite(*out);
	}
	if (!cJSON_IsString(v))
		return 0;
	s = v->valuestring;
	if (!*s || strspn(s, "0123456789.eE+-") != strlen(s))
		return 0;
	*out = strtod(s, &e);
	return !*e && isfinite(*out);
}

static int
oracle(const struct filter *f, const cJSON *o)
{
	int flow = f->kind == FILTER_KIND_FLOW;
	const cJSON *v;
	double x;

	if (f->n_tickers) {
		int ok = 0;

		v = cJSON_GetObjectItemCaseSensitive(o, flow ? "ticker" : "underlying_symbol");
		if (!cJSON_IsString(v))
			return 0;
		for (int i = 0; i < f->n_tickers && !ok; i++)
			ok = !strcasecmp(v->valuestring, f->tickers[i]) &&
			     strlen(v->valuestring) == strlen(f->tickers[i]);
		if (!ok)
			return 0;
	}
	if (f->n_rules) {
		int ok = 0;

		v = cJSON_GetObjectItemCaseSensitive(o, "rule_name");
		if (!cJSON_IsString(v))
			return 0;
		for (int i = 0; i < f->n_rules && !ok; i++)
			ok = !strcmp(v->valuestring, f->rules[i]);
		if (!ok)
			return 0;
	}
	if (f->side != FILTER_SIDE_ANY) {
		enum filter_side s = FILTER_SIDE_ANY;

		v = cJSON_GetObjectItemCaseSensitive(o, flow ? "option_chain" : "option_type");
		if (!cJSON_IsString(v))
			return 0;
		if (flow) {
			size_t n = strlen(v->valuestring);

			if (n >= 15 && strspn(v->valuestring + n - 8, "0123456789") == 8)
				s = v->valuestring[n - 9] == 'C' ? FILTER_SIDE_CALL :
				    v->valuestring[n - 9] == 'P' ? FILTER_SIDE_PUT : FILTER_SIDE_ANY;
		} else
			s = !strcmp(v->valuestring, "call") ? FILTER_SIDE_CALL :
			    !strcmp(v->valuestring, "put") ? FILTER_SIDE_PUT : FILTER_SIDE_ANY;
		if (s != f->side)
			return 0;
	}
	if (f->has_min_premium) {
		v = cJSON_GetObjectItemCaseSensitive(o, "total_premium");
		if (!oracle_number(v, &x) || x < (double)f->min_premium)
			return 0;
	}
	if (f->has_min_size) {
		v = cJSON_GetObjectItemCaseSensitive(o, "size");
		if (!oracle_number(v, &x) || x < (double)f->min_size)
			return 0;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct filter f, g;
	char err[FILTER_ERR_MAX];
	const char *text, *nl, *payload;
	size_t tl, pl;
	enum filter_kind kind;
	int m;

	if (!size)
		return 0;
	kind = (enum filter_kind)(data[0] % 3);
	text = (const char *)data + 1;
	nl = memchr(text, '\n', size - 1);
	tl = nl ? (size_t)(nl - text) : size - 1;
	payload = nl ? nl + 1 : text + tl;
	pl = size - 1 - tl - (nl != NULL);

	if (filter_parse(kind, text, tl, &f, err)) {
		if (!err[0] || strlen(err) >= FILTER_ERR_MAX)
			abort();
		for (const char *p = err; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				abort();
		return 0;
	}
	if (kind == FILTER_KIND_NONE || strlen(f.canon) > tl || strlen(f.canon) > FILTER_MAX_LEN ||
	    f.n_tickers > FILTER_MAX_TICKERS || f.n_rules > FILTER_MAX_RULES)
		abort();
	if (filter_parse(kind, f.canon, strlen(f.canon), &g, err) || strcmp(f.canon, g.canon))
		abort();
	m = filter_match(&f, payload, pl);
	if (m != filter_match(&g, payload, pl))
		abort();
	/* which payloads are valid is judged apart from json_scan.c, which
	 * filter.c reads them with: a payload it wrongly refused would
	 * otherwise never be compared */
	if (!memchr(payload, '\\', pl)) {
		cJSON *o = jsonref_parse(payload, pl);
		struct jsonref_lex lx;

		jsonref_lex(payload, pl, &lx);
		/* filter.c reads each member's value to JSON_MAX_DEPTH */
		if (cJSON_IsObject(o) && lx.strict && lx.depth <= JSON_MAX_DEPTH + 1 &&
		    m != oracle(&f, o))
			abort();
		cJSON_Delete(o);
	}
	return 0;
}
