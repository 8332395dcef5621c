/* tape_resume.h: a WebSocket resume older than memory, served from the tape (tape_resume.c). */
#ifndef UWRELAY_TAPE_RESUME_H
#define UWRELAY_TAPE_RESUME_H

#include <stdint.h>

struct session;
struct reg_channel;

/* Most frames one resume reads from the tape; older ones get a gap notice. */
#define TAPE_RESUME_MAX_FRAMES 100000

/* Asks the tape for ch's frames with since < seq < below for s; until it
 * answers, s holds every frame (session_push), then gets the tape's
 * frames, then what was held. Returns 0, or -1 if it cannot (no tape, the
 * queue is full, SESSION_TAPE_MAX resumes already wait): the caller then
 * says what is lost as without a tape. */
int tape_resume_start(struct session *s, struct reg_channel *ch, uint64_t since, uint64_t below);
/* s is closing: its tape answers are dropped unseen. */
void tape_resume_cancel(struct session *s);

struct relay;
/* At start, before the first browser is accepted: fills each taped
 * channel's memory history with its newest frames on the tape (within
 * history.size and history.max_bytes), so that a restarted relay resumes
 * its browsers from memory, as the one before it would have. Waits for the
 * reader at most timeout_ms; a channel it could not read starts empty
 * (resumes then ask the tape, one query each). Returns the frames loaded. */
uint64_t tape_resume_warm(struct relay *r, int timeout_ms);

#endif
