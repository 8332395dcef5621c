/* filter_eval.c: how many filter evaluations one core does per second, on
 * UW's sample flow alert (about 1 KB, the trade ids after the fields read),
 * for filters that read one to four fields, passing and failing.
 *
 *   cc -O2 -Iinclude bench/filter_eval.c src/filter.c src/json_scan.c -lm -o /tmp/filter_eval
 *   /tmp/filter_eval [iterations]
 *
 * Prints one line per filter: ns per evaluation and evaluations/s (best of
 * 5 runs, so a neighbour's burst on a shared machine shows less). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "filter.h"

static const char FLOW[] =
	"{\"rule_id\":\"5ce5ec11-087c-4c00-b164-08106b015856\",\"rule_name\":\"RepeatedHitsDescendingFill\","
	"\"ticker\":\"DIA\",\"option_chain\":\"DIA241018C00415000\",\"underlying_price\":415.981,\"volume\":106,"
	"\"total_size\":50,\"total_premium\":36466,\"total_ask_side_prem\":36466,\"total_bid_side_prem\":0,"
	"\"start_time\":1726670212648,\"end_time\":1726670212748,\"url\":\"\",\"price\":7.3,\"has_multileg\":false,"
	"\"has_sweep\":false,\"has_floor\":false,\"open_interest\":575,\"all_opening_trades\":false,"
	"\"id\":\"29ed5829-e4ce-4934-876b-51985d2f9b70\",\"has_singleleg\":true,\"volume_oi_ratio\":0,"
	"\"trade_ids\":[\"417f0cd6-09ae-4d43-8542-38557bb713aa\",\"417f0cd7-09ae-4d43-8542-38557bb713aa\","
	"\"417f0cd8-09ae-4d43-8542-38557bb713aa\",\"417f0cd9-09ae-4d43-8542-38557bb713aa\","
	"\"417f0cda-09ae-4d43-8542-38557bb713aa\",\"417f0cdb-09ae-4d43-8542-38557bb713aa\"],"
	"\"trade_count\":7,\"expiry_count\":1,\"executed_at\":1726670212748,\"ask_vol\":52,\"bid_vol\":49,"
	"\"no_side_vol\":0,\"mid_vol\":5,\"multi_vol\":0,\"stock_multi_vol\":0,"
	"\"upstream_condition_details\":[\"auto\",\"slan\"],\"exchanges\":[\"XCBO\",\"MPRL\"],"
	"\"bid\":\"7.15\",\"ask\":\"7.3\"}";

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	static const char *const filters[] = {
		"tickers:DIA",
		"tickers:SPY,QQQ,TSLA,AAPL,NVDA,AMD,MSFT,AMZN,META,IWM",
		"tickers:DIA;side:call;min_premium:1000",
		"tickers:SPY;side:call;min_premium:1000",
		"tickers:DIA;side:call;min_premium:1000;rules:RepeatedHitsDescendingFill",
		"min_premium:1000000",
		"side:put",
	};
	long iters = argc > 1 ? atol(argv[1]) : 2000000;
	volatile int sink = 0;

	printf("payload %zu bytes, %ld evaluations per run, best of 5\n", strlen(FLOW), iters);
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		struct filter f;
		char err[FILTER_ERR_MAX];
		double best = 1e9;
		int m;

		if (filter_parse(FILTER_KIND_FLOW, filters[i], strlen(filters[i]), &f, err)) {
			fprintf(stderr, "%s: %s\n", filters[i], err);
			return 1;
		}
		m = filter_match(&f, FLOW, strlen(FLOW));
		for (int run = 0; run < 5; run++) {
			double t0 = now_s(), t;

			for (long k = 0; k < iters; k++)
				sink += filter_match(&f, FLOW, strlen(FLOW));
			t = now_s() - t0;
			if (t < best)
				best = t;
		}
		printf("%-75s %s %6.1f ns  %5.2f M/s\n", filters[i], m ? "pass" : "fail", best / (double)iters * 1e9,
		       (double)iters / best / 1e6);
	}
	return sink < 0;
}
