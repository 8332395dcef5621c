/* filter.h: a subscriber's filter on a busy channel, pure (no I/O).
 *
 * One syntax, on the URL (?filter=) and in the subscribe message:
 *
 *   tickers:SPY,QQQ;min_premium:1000000;side:call;rules:RepeatedHits
 *
 * clauses joined by ';', each `key:value`, lists joined by ','; every
 * clause must hold (AND), a list matches any of its items (OR). Which keys
 * a channel takes depends on its payload (docs/PROTOCOL.md has the
 * grammar): flow-alerts takes tickers, min_premium, side and rules;
 * option_trades and option_trades:TICKER take tickers, min_size and side.
 *
 * A parsed filter has a canonical form (keys in a fixed order, lists
 * sorted and without duplicates), so subscribers who wrote the same filter
 * differently share one evaluation per frame (filtab.h). Evaluation reads
 * the payload's top-level members with json_scan, without building a tree
 * or copying the payload. */
#ifndef UWRELAY_FILTER_H
#define UWRELAY_FILTER_H

#include <stddef.h>
#include <stdint.h>

#define FILTER_MAX_LEN 512	/* bytes of filter text, as sent and as canonical */
#define FILTER_MAX_TICKERS 50
#define FILTER_MAX_RULES 20
#define FILTER_TICKER_MAX 16	/* characters of one ticker */
#define FILTER_RULE_MAX 64	/* characters of one rule name */
#define FILTER_ERR_MAX 160	/* error text, NUL included */

enum filter_kind { FILTER_KIND_NONE = 0, FILTER_KIND_FLOW, FILTER_KIND_TRADES };
enum filter_side { FILTER_SIDE_ANY = 0, FILTER_SIDE_CALL, FILTER_SIDE_PUT };

struct filter {
	enum filter_kind kind;
	enum filter_side side;
	uint8_t n_tickers, n_rules;
	uint8_t has_min_premium, has_min_size;
	uint64_t min_premium;	/* flow-alerts: total_premium >= this */
	uint64_t min_size;	/* option_trades: size >= this */
	char tickers[FILTER_MAX_TICKERS][FILTER_TICKER_MAX + 1];	/* upper case, sorted */
	char rules[FILTER_MAX_RULES][FILTER_RULE_MAX + 1];		/* sorted */
	char canon[FILTER_MAX_LEN + 1];
};

/* The kind of filter channel name[0..len) takes: FILTER_KIND_FLOW for
 * flow-alerts, FILTER_KIND_TRADES for option_trades and option_trades:X,
 * FILTER_KIND_NONE for every other channel (which takes no filter). */
enum filter_kind filter_kind_of(const char *name, size_t len);

/* Parses text[0..len) as a filter for a channel of kind `kind` into *f.
 * Returns 0, or -1 with a sentence for the client in err (never repeating
 * the text beyond a key name made of [a-z_]), *f then unspecified. An
 * empty text is an error too: the caller treats "no filter" before
 * calling. */
int filter_parse(enum filter_kind kind, const char *text, size_t len, struct filter *f,
		 char err[FILTER_ERR_MAX]);

/* 1 if the payload (one JSON object, payload[0..len)) passes f, 0 if not
 * or if a field f needs is missing, of the wrong type or not valid JSON. */
int filter_match(const struct filter *f, const char *payload, size_t len);

/* The payload span of a data envelope {"channel":..,"data":PAYLOAD} as
 * envelope_data() builds it. Returns 0, or -1 if env is not one. */
int filter_envelope_payload(const char *env, size_t len, const char **payload, size_t *plen);

#endif
