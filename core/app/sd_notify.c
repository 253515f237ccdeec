/* The notify protocol is a datagram of NEWLINE-separated assignments to
 * an AF_UNIX socket; that is all sd_notify(3) does, and all we need. */
#include "autoconf.h"

#include "app/sd_notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

#define COMPONENT "proxy.systemd"

static int sd_fd = -1;
static struct sockaddr_un sd_addr;
static socklen_t sd_addr_len;
static bool sd_complained;

int
vpd_sd_notify_init(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (sd_fd >= 0)
        return 1;
    if (!path || !path[0])
        return 0;
    size_t len = strlen(path);
    /* Only unix sockets: systemd also allows vsock, which we skip. */
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof sd_addr.sun_path) {
        vpd_log(VPD_LOG_DEBUG, COMPONENT,
                "NOTIFY_SOCKET \"%s\" is not a unix socket: not notifying",
                path);
        return 0;
    }
    memset(&sd_addr, 0, sizeof sd_addr);
    sd_addr.sun_family = AF_UNIX;
    memcpy(sd_addr.sun_path, path, len);
    if (path[0] == '@')
        sd_addr.sun_path[0] = '\0'; /* abstract namespace */
    sd_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    sd_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (sd_fd < 0) {
        vpd_log(VPD_LOG_DEBUG, COMPONENT, "cannot notify systemd: %s",
                strerror(errno));
        return 0;
    }
    return 1;
}

void
vpd_sd_notify(const char *msg)
{
    if (sd_fd < 0)
        return;
    /* MSG_NOSIGNAL: a socket whose reader is gone must not kill us. */
    ssize_t n = sendto(sd_fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
                       (const struct sockaddr *)&sd_addr, sd_addr_len);
    if (n < 0 && !sd_complained) {
        sd_complained = true;
        vpd_log(VPD_LOG_DEBUG, COMPONENT,
                "systemd notification failed (not retried): %s",
                strerror(errno));
    } else if (n >= 0) {
        vpd_log(VPD_LOG_TRACE, COMPONENT, "notified systemd: %.40s", msg);
    }
}

void
vpd_sd_notify_reloading(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char msg[96];
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull +
                 (unsigned long long)ts.tv_nsec / 1000ull);
    vpd_sd_notify(msg);
}

void
vpd_sd_notify_close(void)
{
    if (sd_fd >= 0)
        close(sd_fd);
    sd_fd = -1;
}
