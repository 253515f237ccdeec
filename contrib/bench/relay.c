/* SPDX-License-Identifier: Apache-2.0
 *
 * relay: the least work any proxy can do per request, for the benchmark.
 *
 *     relay LISTEN_PORT UPSTREAM_PORT
 *
 * Every accepted connection gets its own upstream connection on
 * 127.0.0.1:UPSTREAM_PORT and bytes are copied both ways as they come:
 * no parsing, no headers, no pool, no timers.  One thread, level-triggered
 * epoll, one read and one write per chunk.  A request through it costs
 * what the kernel charges for a proxy hop (four socket calls and the
 * loopback segments behind them) and almost nothing else, so its req/s is
 * the ceiling for every real proxy on the same machine: when it is not
 * 1.2 times nginx's, no HTTP proxy can be.  Not part of vaproxyd; built
 * by run.sh with the system compiler.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK 16384

/* One direction of a pair: bytes read from `from` and not yet written to
 * its peer. */
typedef struct side {
    int fd;
    struct side *peer;
    char buf[CHUNK];
    size_t off, len; /* unwritten bytes of buf, read from this side */
} side;

static int ep;
/* Pairs closed during one epoll_wait batch are freed after it: a later
 * event of the same batch may still name them. */
static side *graveyard[512];
static int ngraves;

static void
watch(side *s, int op, unsigned events)
{
    struct epoll_event e = {.events = events, .data.ptr = s};
    epoll_ctl(ep, op, s->fd, &e);
}

static void
close_pair(side *s)
{
    side *p = s->peer;
    if (s->fd < 0)
        return;
    close(s->fd);
    close(p->fd);
    s->fd = p->fd = -1;
    graveyard[ngraves++] = s < p ? s : p; /* one allocation for both */
}

/* Writes what `s` holds to its peer.  Returns 0 when all is written, 1
 * when the peer is full (then the peer waits for EPOLLOUT and `s` stops
 * reading), -1 on error. */
static int
flush(side *s)
{
    while (s->len) {
        ssize_t n = write(s->peer->fd, s->buf + s->off, s->len);
        if (n < 0)
            return errno == EAGAIN ? 1 : -1;
        s->off += (size_t)n;
        s->len -= (size_t)n;
    }
    s->off = 0;
    return 0;
}

static void
on_readable(side *s)
{
    ssize_t n = read(s->fd, s->buf, sizeof s->buf);
    if (n <= 0) {
        if (n < 0 && errno == EAGAIN)
            return;
        close_pair(s);
        return;
    }
    s->len = (size_t)n;
    int r = flush(s);
    if (r < 0) {
        close_pair(s);
    } else if (r > 0) {
        watch(s, EPOLL_CTL_MOD, 0);
        watch(s->peer, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT);
    }
}

static void
on_writable(side *s)
{
    side *p = s->peer; /* holds the bytes waiting for s */
    int r = flush(p);
    if (r < 0) {
        close_pair(s);
    } else if (r == 0) {
        watch(s, EPOLL_CTL_MOD, EPOLLIN);
        watch(p, EPOLL_CTL_MOD, EPOLLIN);
    }
}

static void
on_accept(int lfd, const struct sockaddr_in *up)
{
    for (;;) {
        int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
        if (cfd < 0)
            return;
        int ufd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        side *pair = calloc(2, sizeof *pair);
        if (ufd < 0 || !pair ||
            (connect(ufd, (const struct sockaddr *)up, sizeof *up) < 0 &&
             errno != EINPROGRESS)) {
            close(cfd);
            if (ufd >= 0)
                close(ufd);
            free(pair);
            continue;
        }
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pair[0] = (side){.fd = cfd, .peer = &pair[1]};
        pair[1] = (side){.fd = ufd, .peer = &pair[0]};
        /* Until the connect completes, a write to the upstream fails with
         * EAGAIN and the usual EPOLLOUT path takes over. */
        watch(&pair[0], EPOLL_CTL_ADD, EPOLLIN);
        watch(&pair[1], EPOLL_CTL_ADD, EPOLLIN);
    }
}

int
main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: relay LISTEN_PORT UPSTREAM_PORT\n");
        return 2;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)atoi(argv[1])),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct sockaddr_in up = addr;
    up.sin_port = htons((uint16_t)atoi(argv[2]));
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        listen(lfd, 1024) < 0) {
        perror("relay: listen");
        return 1;
    }
    ep = epoll_create1(0);
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &le);
    struct epoll_event ev[256]; /* fewer than graveyard's size */
    for (;;) {
        int n = epoll_wait(ep, ev, 256, -1);
        for (int i = 0; i < n; i++) {
            side *s = ev[i].data.ptr;
            if (s && s->fd < 0)
                continue;
            if (!s)
                on_accept(lfd, &up);
            else if (ev[i].events & EPOLLOUT)
                on_writable(s);
            else
                on_readable(s);
        }
        while (ngraves)
            free(graveyard[--ngraves]);
    }
}
