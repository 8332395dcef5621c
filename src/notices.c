/* notices.c: the relay's own messages to browsers ($relay notices): built
 * as cJSON, printed once, enveloped under the right epoch and sent to one
 * session, a channel's subscribers or every browser. Part of the session
 * module (session.h). */
#include <cJSON.h>
#include <stdlib.h>
#include "clock.h"
#include "envelope.h"
#include "frame.h"
#include "relay_state.h"
#include "session.h"

/* Sends the notice text under epoch to s. */
static void
notice_epoch(struct session *s, const char *txt, const char *epoch)
{
	struct frame *f = envelope_notice(epoch, (int64_t)clock_now_ms(), txt);

	if (f) {
		session_push(s, f);
		frame_unref(f);
	}
}

void
session_notice(struct session *s, const char *data_json)
{
	notice_epoch(s, data_json, s->relay->epoch);
}

void
session_channel_notice(struct relay *r, struct reg_channel *ch, const char *data_json)
{
	struct frame *f = envelope_notice(relay_channel_epoch(r, ch), (int64_t)clock_now_ms(), data_json);

	if (!f)
		return;
	session_fanout(r, ch, f);
	frame_unref(f);
}

void
session_broadcast_notice(struct relay *r, const char *data_json)
{
	struct frame *f = envelope_notice(r->epoch, (int64_t)clock_now_ms(), data_json);
	struct session *s;

	if (!f)
		return;
	for (s = r->sessions; s; s = s->next)
		session_push(s, f);
	frame_unref(f);
}

void
session_broadcast_upstream(struct relay *r, int up, const char *reason)
{
	cJSON *o = session_notice_new("upstream", NULL);

	cJSON_AddStringToObject(o, "state", up ? "connected" : "disconnected");
	if (!up && reason && *reason)
		cJSON_AddStringToObject(o, "reason", reason);
	session_send_notice(r, NULL, NULL, o);
}

void
session_send_notice(struct relay *r, struct session *s, struct reg_channel *ch, cJSON *o)
{
	char *txt = o ? cJSON_PrintUnformatted(o) : NULL;

	cJSON_Delete(o);
	if (!txt)
		return;
	if (s)	/* about ch, if given: under ch's epoch, which a client resumes with */
		notice_epoch(s, txt, ch ? relay_channel_epoch(r, ch) : r->epoch);
	else if (ch)
		session_channel_notice(r, ch, txt);
	else
		session_broadcast_notice(r, txt);
	free(txt);
}

cJSON *
session_notice_new(const char *type, const char *channel)
{
	cJSON *o = cJSON_CreateObject();

	if (o) {
		cJSON_AddStringToObject(o, "type", type);
		if (channel)
			cJSON_AddStringToObject(o, "channel", channel);
	}
	return o;
}

void
session_notice_kv(struct session *s, const char *type, const char *channel, const char *code,
	  const char *message)
{
	cJSON *o = session_notice_new(type, channel);

	if (o && code)
		cJSON_AddStringToObject(o, "code", code);
	if (o && message)
		cJSON_AddStringToObject(o, "message", message);
	session_send_notice(s->relay, s, NULL, o);
}
