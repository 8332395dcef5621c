/* backoff.c: min(initial * 2^(n-1), max) spread by ± jitter. */
#include <math.h>
#include "backoff.h"

uint64_t
backoff_delay_ms(const struct backoff_cfg *cfg, unsigned attempt, double r)
{
	double base, j, d;

	if (attempt == 0)
		attempt = 1;
	base = cfg->initial_s > 0 ? cfg->initial_s : 0;
	/* Doubling past 2^62 cannot stay under any sane cap: clamp the
	 * exponent rather than let ldexp go to infinity. */
	if (attempt - 1 < 62)
		base = ldexp(base, (int)(attempt - 1));
	else if (base > 0)
		base = INFINITY;
	if (cfg->max_s >= 0 && base > cfg->max_s)
		base = cfg->max_s;

	j = cfg->jitter;
	if (!(j > 0))	/* also catches NaN */
		j = 0;
	if (j > 1)
		j = 1;
	if (!(r >= 0))
		r = 0;
	if (r >= 1)
		r = 0.999999999;
	d = base * (1.0 + j * (2.0 * r - 1.0));
	if (!(d > 0))
		return 0;
	d = d * 1000.0 + 0.5;
	if (d >= 18446744073709551615.0)
		return UINT64_MAX;
	return (uint64_t)d;
}
