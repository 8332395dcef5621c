/* notify.h: systemd notifications and the watchdog (notify.c; no-ops outside systemd). */
#ifndef UWRELAY_NOTIFY_H
#define UWRELAY_NOTIFY_H

struct relay;

/* READY=1 with the first STATUS, and the watchdog timer if systemd asked
 * for one. */
void notify_ready(struct relay *r);
/* STATUS= with the UW link's state and the number of clients. */
void notify_status(struct relay *r);
/* RELOADING=1 (on) or READY=1 (off) around a SIGHUP reload. */
void notify_reloading(int on);
/* STOPPING=1 at the start of a shutdown. */
void notify_stopping(struct relay *r);

#endif
