/* notify.c: systemd service notifications (sd_notify), and the watchdog.
 *
 * Outside systemd (no NOTIFY_SOCKET) every call is a no-op. READY=1 is sent
 * once the listener is bound; WATCHDOG=1 comes from an lws timer at half
 * the watchdog interval, so a loop that stops turning stops the pings and
 * systemd restarts the service. */
#include <systemd/sd-daemon.h>
#include <stdio.h>
#include "notify.h"
#include "relay_state.h"

static void
watchdog_cb(lws_sorted_usec_list_t *sul)
{
	struct relay *r = lws_container_of(sul, struct relay, sul_watchdog);

	sd_notify(0, "WATCHDOG=1");
	lws_sul_schedule(r->ctx, 0, &r->sul_watchdog, watchdog_cb, (lws_usec_t)r->watchdog_usec / 2);
}

void
notify_ready(struct relay *r)
{
	uint64_t usec = 0;

	notify_status(r);
	sd_notify(0, "READY=1");
	if (sd_watchdog_enabled(0, &usec) > 0 && usec) {
		r->watchdog_usec = usec;
		lws_sul_schedule(r->ctx, 0, &r->sul_watchdog, watchdog_cb, (lws_usec_t)usec / 2);
		log_msg(LOG_INFO, "relay: systemd watchdog every %.1f s", (double)usec / 2e6);
	}
}

void
notify_status(struct relay *r)
{
	sd_notifyf(0, "STATUS=upstream %s; %llu browser(s)", relay_upstream_word(r),
		   (unsigned long long)r->n_sessions);
}

void
notify_reloading(int on)
{
	sd_notify(0, on ? "RELOADING=1" : "READY=1");
}

void
notify_stopping(struct relay *r)
{
	lws_sul_cancel(&r->sul_watchdog);
	sd_notify(0, "STOPPING=1");
}
