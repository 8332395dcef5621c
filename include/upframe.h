/* upframe.h: parsing one text frame from UW, pure.
 *
 * UW frames are `[CHANNEL, PAYLOAD]` with CHANNEL a string and PAYLOAD a
 * JSON object; anything else is malformed. An ack is a frame whose payload
 * is an object of at most 512 bytes with exactly the keys "response" and
 * "status". Pointers in the result point into the caller's buffer: nothing
 * is copied. */
#ifndef UWRELAY_UPFRAME_H
#define UWRELAY_UPFRAME_H

#include <stddef.h>

enum upframe_kind { UPFRAME_MALFORMED = 0, UPFRAME_DATA, UPFRAME_ACK };

struct upframe {
	enum upframe_kind kind;
	const char *channel;	/* raw string body, without quotes */
	size_t channel_len;
	int channel_escaped;	/* the channel string held a backslash escape */
	const char *payload;	/* exact text of the second element */
	size_t payload_len;
	const char *ack_status;	/* UPFRAME_ACK: raw status string body */
	size_t ack_status_len;
	int ack_ok;		/* UPFRAME_ACK: status was "ok" */
	const char *error;	/* UPFRAME_MALFORMED: static reason */
};

/* Classifies buf[0..len). Always fills *out; returns out->kind. */
enum upframe_kind upframe_parse(const char *buf, size_t len, struct upframe *out);

#endif
