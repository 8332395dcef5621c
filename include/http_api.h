/* http_api.h: the operator's HTTP answers: status, channels, health, metrics, files (http_api.c). */
#ifndef UWRELAY_HTTP_API_H
#define UWRELAY_HTTP_API_H

#include "httpans.h"

struct relay;

/* Fills the answer to GET path (API, health, metrics or a file). Returns
 * 0, or -1 on OOM. */
int http_api_answer(struct relay *r, const char *path, struct http_answer *a);

#endif
