/* envelope.h: the one message shape browsers receive, built once per frame.
 *
 *   {"channel":"C","seq":N,"epoch":"E","timestamp":"T","data":PAYLOAD}
 *
 * PAYLOAD is spliced byte for byte. Relay notices use channel "$relay" and
 * carry no seq. */
#ifndef UWRELAY_ENVELOPE_H
#define UWRELAY_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>
#include "frame.h"

#define RELAY_CHANNEL "$relay"

/* Formats ms since the epoch as 2026-11-25T14:30:00.123Z (24 chars + NUL). */
void envelope_time(int64_t ms, char out[25]);

/* Longest envelope head: everything before the payload. */
#define ENVELOPE_HEAD_MAX 256
/* Writes the data envelope's head ({"channel":...,"data":) into out; the
 * envelope is head + payload + "}". Returns its length, or 0 if channel
 * or epoch is longer than 64 bytes. */
size_t envelope_head(char out[ENVELOPE_HEAD_MAX], const char *channel, size_t channel_len, uint64_t seq,
		     const char *epoch, int64_t recv_ms);

/* Returns a new frame holding the data envelope, or NULL on OOM. channel
 * must need no JSON escaping (registry names never do). */
struct frame *envelope_data(const char *channel, size_t channel_len, uint64_t seq,
			    const char *epoch, int64_t recv_ms,
			    const char *payload, size_t payload_len);

/* Returns a new frame holding a $relay notice whose data is the JSON object
 * text `data_json`, or NULL on OOM. */
struct frame *envelope_notice(const char *epoch, int64_t now_ms, const char *data_json);

#endif
