/* clock.h: the relay's three clocks, one place. Timers and intervals use
 * the monotonic ones; timestamps shown to people use the wall clock. */
#ifndef UWRELAY_CLOCK_H
#define UWRELAY_CLOCK_H

#include <stdint.h>

/* Milliseconds since the epoch, wall clock (for timestamps). */
uint64_t clock_now_ms(void);
/* Milliseconds from a monotonic clock (for timers and intervals). */
uint64_t clock_mono_ms(void);
/* Microseconds from a monotonic clock (for latency). */
uint64_t clock_mono_us(void);

#endif
