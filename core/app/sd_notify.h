/* systemd's notify protocol without libsystemd: one datagram per message
 * to the unix socket named by $NOTIFY_SOCKET (a path, or an abstract
 * socket written with a leading '@').  Used for READY=1 once the daemon
 * serves, RELOADING=1 / READY=1 around a SIGHUP reload, STOPPING=1 at
 * shutdown, and STATUS= lines.
 *
 * Sending never blocks (a non-blocking socket; a full queue drops the
 * message) and errors are ignored after one debug line: without systemd,
 * or with a gone socket, the daemon runs the same.
 *
 * Ownership: messages are copied into the datagram; the module owns its
 * socket, process-wide. */
#ifndef VPD_SD_NOTIFY_H
#define VPD_SD_NOTIFY_H

/* Reads $NOTIFY_SOCKET and opens the socket.  Returns 1 when notifying,
 * 0 when there is nothing to notify (or it cannot be set up). */
int vpd_sd_notify_init(void);

/* Sends "READY=1", "STATUS=...", several lines joined with '\n', ... */
void vpd_sd_notify(const char *msg);

/* "RELOADING=1" with MONOTONIC_USEC= (newer systemd wants the time with
 * it for Type=notify-reload; older versions ignore it). */
void vpd_sd_notify_reloading(void);

void vpd_sd_notify_close(void);

#endif
