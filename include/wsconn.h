/* wsconn.h: the WebSocket side of a browser connection (wsconn.c): the
 * upgrade and its answer (with permessage-deflate, deflate.h), the
 * client's frames, and what WRITEABLE sends. Also the admission checks
 * every stream shares with Server-Sent Events (sse.c). */
#ifndef UWRELAY_WSCONN_H
#define UWRELAY_WSCONN_H

#include <stddef.h>
#include "conn.h"

struct httpreq;

/* Access, caps and the query of a stream request (WebSocket or SSE):
 * clients.max_connections, max_per_ip, a well-formed query, at most
 * max_channels names in ?channels=; v gets access.c's verdict. Returns 0 to go on, 1 when refused
 * (the answer is on its way), -1 to close at once. */
int wsconn_admit(struct conn *c, const struct httpreq *q, const char *path, int websocket,
		 struct access_verdict *v);
/* An upgrade request for path: checked, answered 101 and made a session;
 * rest holds bytes after the head. Returns 0, or -1 to close at once. */
int wsconn_upgrade(struct conn *c, const struct httpreq *q, const char *path, const char *rest,
		   size_t rest_len);
/* Frames from the client. Returns 0, or -1 to close at once. */
int wsconn_rx(struct conn *c, const char *in, size_t len);
/* WRITEABLE on a WebSocket: a pong, the close frame, or queued frames. */
int wsconn_writeable(struct conn *c);

#endif
