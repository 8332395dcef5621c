/* sse.h: Server-Sent Events streams (sse.c).
 *
 * GET /api/stream/sse/<endpoint> and /api/stream/sse?channels=a,b serve
 * what the WebSocket paths /api/stream/ws/<endpoint> and
 * /api/stream/ws?channels=a,b serve, as text/event-stream (sseenc.h): the
 * same session, subscriptions, caps, access rules, history replay and
 * slow-consumer bound, the same shared frames (each event built once).
 * Resume: ?since=&epoch= as on the WebSocket path, or the Last-Event-ID
 * header a reconnecting EventSource sends by itself. */
#ifndef UWRELAY_SSE_H
#define UWRELAY_SSE_H

#include "conn.h"

#define SSE_PATH "/api/stream/sse"

struct httpreq;

/* 1 if path is SSE_PATH or under it. */
int sse_path(const char *path);
/* A GET or HEAD on an SSE path: refused, or answered 200 and made a
 * session fed as events. Returns 0, or -1 to close at once. */
int sse_request(struct conn *c, const struct httpreq *q, const char *path);
/* WRITEABLE on a stream: queued events, or the final "close" event. */
int sse_writeable(struct conn *c);
/* The stream's connection is going: its session leaves everything. */
void sse_gone(struct conn *c);

#endif
