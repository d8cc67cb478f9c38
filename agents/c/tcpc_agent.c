/*
 * tcpc_agent.c -- the reference target agent of tcpconform, in one file of C99.
 *
 * A target agent plays the application of the TCP stack under test and reports its TCP state, on
 * command from the tester, over a control channel that never crosses the tested link.  The protocol
 * is tcpconform's docs/agent-protocol.md: JSON lines, one request, one response.  This agent speaks
 * it over stdin/stdout (a tty there is a serial line: it is put in raw mode) or over UDP (one
 * request per datagram; a duplicate request is answered from a replay cache, never run twice).
 *
 *   cc -std=c99 -Wall -Wextra -Werror -O2 -o tcpc_agent tcpc_agent.c
 *   ./tcpc_agent                  serve on stdin/stdout
 *   ./tcpc_agent -u 0.0.0.0:4242  serve over UDP (port 0: any free one; the port is logged)
 *
 * The shape is the one an embedded port follows (see README.md):
 *   1. configuration: every table's size, as #defines; nothing is allocated after start;
 *   2. the porting layer: the only code that touches the platform (control channel, sockets,
 *      clock, TCP state); a port replaces that section and nothing else;
 *   3. the portable agent: a small JSON reader for the protocol's flat requests, the tables of
 *      listeners, connections and events, and the operations.
 */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================================================
 * 1. Configuration
 * ================================================================================================ */
#define AGENT_VERSION "1"
#define MAX_CONNS 16          /* connections the agent tracks (accepted, connected, closed-but-named) */
#define MAX_LISTENERS 8       /* listening sockets */
#define MAX_DATA 2048         /* bytes of one read or write (hello says so: max_read, max_write) */
#define MAX_REQUEST (2 * MAX_DATA + 512)     /* one request line: a write's hex and the JSON around it */
#define MAX_RESPONSE (2 * MAX_DATA + 1024)   /* one response: a read's hex, or as many events as fit */
#define MAX_EVENTS 32         /* events kept until the tester asks; the oldest go first */
#define EVENT_DETAIL 96
#define MAX_FIELDS 24         /* fields of one request, the connection's two and a route's hops included */
#define MAX_ROUTE 8           /* hops of an application's source route (RFC 791: 9 fit the header; one is the destination) */
#define REPLAY_SLOTS 4        /* responses kept for duplicate requests (UDP) */
#define ID_MAX 32             /* characters of a request id */
#define WRITE_TIMEOUT_MS 3000 /* how long a write may wait for room in the send buffer */
#define MAX_READ_WAIT_MS 10000

/* ================================================================================================
 * 2. The porting layer (POSIX).  A port replaces this section: the types and functions below are
 *    all the portable agent uses of its platform.
 *
 *    Endpoints are binary (family 4 or 6, address, port).  Socket functions never block longer than
 *    the timeout they are given; an error is a positive code (errno here) and port_strerror() words
 *    it; PORT_AGAIN means "nothing yet".  The control channel delivers one request at a time.
 * ================================================================================================ */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/utsname.h>
#endif

typedef int port_sock;
#define PORT_NO_SOCK (-1)
#define PORT_AGAIN (-1)

typedef struct {
    int family;                /* 4 or 6 */
    unsigned char addr[16];    /* 4 bytes used for IPv4 */
    unsigned short port;
} endpoint;

static volatile sig_atomic_t port_stopping = 0;

static void port_log(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("tcpc_agent: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Seconds since the epoch: the clock of the events' "at". */
static double port_clock(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* A monotonic clock in milliseconds, for timeouts. */
static long long port_millis(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *port_strerror(int err) { return strerror(err); }

/* The POSIX name of an application call's error, as the protocol's "errno" carries it (NULL: none to give).
 * ECONNRESET is the one the tester relies on: it tells an abort (the peer's RST) from other failures. */
static const char *port_errno_name(int err) {
    switch (err) {
    case ECONNRESET: return "ECONNRESET";
    case EPIPE: return "EPIPE";
    case ENOTCONN: return "ENOTCONN";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNABORTED: return "ECONNABORTED";
    default: return NULL;
    }
}

static const char *port_describe(void) {
    static char text[160];
#if defined(__linux__)
    struct utsname u;
    if (uname(&u) == 0) {
        snprintf(text, sizeof text, "%.20s %.64s kernel TCP (POSIX sockets), pid %ld", u.sysname, u.release, (long)getpid());
        return text;
    }
#endif
    snprintf(text, sizeof text, "POSIX sockets, pid %ld", (long)getpid());
    return text;
}

/* -- addresses -- */
static socklen_t to_sockaddr(const endpoint *e, struct sockaddr_storage *ss) {
    memset(ss, 0, sizeof *ss);
    if (e->family == 6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        memcpy(&s6->sin6_addr, e->addr, 16);
        s6->sin6_port = htons(e->port);
        return sizeof *s6;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    memcpy(&s4->sin_addr, e->addr, 4);
    s4->sin_port = htons(e->port);
    return sizeof *s4;
}

/* An IPv4-mapped IPv6 address (a dual-stack listener's IPv4 peer) comes back as plain IPv4. */
static void from_sockaddr(const struct sockaddr_storage *ss, endpoint *e) {
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(e, 0, sizeof *e);
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        e->port = ntohs(s6->sin6_port);
        if (memcmp(&s6->sin6_addr, mapped, 12) == 0) {
            e->family = 4;
            memcpy(e->addr, (const unsigned char *)&s6->sin6_addr + 12, 4);
        } else {
            e->family = 6;
            memcpy(e->addr, &s6->sin6_addr, 16);
        }
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        e->family = 4;
        e->port = ntohs(s4->sin_port);
        memcpy(e->addr, &s4->sin_addr, 4);
    }
}

/* "1.2.3.4", "2001:db8::1" into e (port untouched); 0 if it is no address. */
static int port_parse_ip(const char *text, endpoint *e) {
    if (inet_pton(AF_INET, text, e->addr) == 1) { e->family = 4; return 1; }
    if (inet_pton(AF_INET6, text, e->addr) == 1) { e->family = 6; return 1; }
    return 0;
}

static void port_format_ip(const endpoint *e, char *out, size_t cap) {
    if (!inet_ntop(e->family == 6 ? AF_INET6 : AF_INET, e->addr, out, (socklen_t)cap)) snprintf(out, cap, "?");
}

static int set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* -- sockets -- */
/* A listening socket on local (family 0: any address, dual stack where the platform has it). */
static port_sock port_listen(const endpoint *local, int *err) {
    endpoint any = *local;
    int fd, one = 1;
    struct sockaddr_storage ss;
    if (local->family == 0) { memset(any.addr, 0, 16); any.family = 6; }
    fd = socket(any.family == 6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    if (fd < 0 && local->family == 0) {  /* no IPv6 here: IPv4 alone */
        any.family = 4;
        fd = socket(AF_INET, SOCK_STREAM, 0);
    }
    if (fd < 0) { *err = errno; return PORT_NO_SOCK; }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (local->family == 0 && any.family == 6) {
        int zero = 0;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    }
    if (bind(fd, (struct sockaddr *)&ss, to_sockaddr(&any, &ss)) < 0 || listen(fd, 16) < 0 || set_nonblocking(fd) < 0) {
        *err = errno;
        close(fd);
        return PORT_NO_SOCK;
    }
    return fd;
}

/* The next connection the listener holds, or PORT_NO_SOCK (*err PORT_AGAIN: none now). */
static port_sock port_accept(port_sock l, endpoint *local, endpoint *remote, int *err) {
    for (;;) {
        struct sockaddr_storage a, b;
        socklen_t alen = sizeof a, blen = sizeof b;
        int fd = accept(l, NULL, NULL);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { *err = PORT_AGAIN; return PORT_NO_SOCK; }
            if (errno == ECONNABORTED) continue;  /* that one is gone already: the next */
            *err = errno;
            return PORT_NO_SOCK;
        }
        if (getsockname(fd, (struct sockaddr *)&a, &alen) < 0 || getpeername(fd, (struct sockaddr *)&b, &blen) < 0
            || set_nonblocking(fd) < 0) {
            close(fd);  /* reset between accept and now: nothing to name it by */
            continue;
        }
        from_sockaddr(&a, local);
        from_sockaddr(&b, remote);
        return fd;
    }
}

#define PORT_NO_ROUTE (-2)  /* port_connect's *err: the platform cannot set a source route */

/* An active open from local to remote, started without waiting (its outcome: port_connect_result).
 * port_only: bind local's port alone, the stack choosing the source address (RFC 9293 MUST-44).
 * route, hops: an IPv4 loose source route set first (RFC 9293 MUST-51), hops IPv4 addresses, first
 * hop first.  IP_OPTIONS is a NOP and an LSRR with pointer 4; the stack sends the datagram to the
 * first address and the option lists the rest.  Linux writes the destination into a last slot of
 * its own; the BSDs take the destination as the last address the application gives (ip_pcbopts). */
static port_sock port_connect(const endpoint *local, const endpoint *remote, int port_only,
                              const endpoint *route, int hops, int *err) {
    struct sockaddr_storage ss;
    endpoint bound = *local;
    int one = 1;
    int fd = socket(remote->family == 6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    if (fd < 0) { *err = errno; return PORT_NO_SOCK; }
    if (port_only) memset(bound.addr, 0, sizeof bound.addr);  /* the unspecified address: any of ours */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (set_nonblocking(fd) < 0 || bind(fd, (struct sockaddr *)&ss, to_sockaddr(&bound, &ss)) < 0) {
        *err = errno;
        close(fd);
        return PORT_NO_SOCK;
    }
    if (hops > 0) {
#ifdef IP_OPTIONS
        unsigned char opt[4 + 4 * (MAX_ROUTE + 1)];
        int i, n = hops;
        for (i = 0; i < hops; i++) memcpy(opt + 4 + 4 * i, route[i].addr, 4);
#if !defined(__linux__)
        memcpy(opt + 4 + 4 * n++, remote->addr, 4);  /* the BSDs: the final destination ends the list */
#endif
        opt[0] = 1;  /* NOP: the addresses on 4-byte boundaries */
        opt[1] = 131;
        opt[2] = (unsigned char)(3 + 4 * n);
        opt[3] = 4;
        if (setsockopt(fd, IPPROTO_IP, IP_OPTIONS, opt, (socklen_t)(4 + 4 * n)) < 0) {
            *err = PORT_NO_ROUTE;
            close(fd);
            return PORT_NO_SOCK;
        }
#else
        *err = PORT_NO_ROUTE;
        close(fd);
        return PORT_NO_SOCK;
#endif
    }
    if (connect(fd, (struct sockaddr *)&ss, to_sockaddr(remote, &ss)) < 0 && errno != EINPROGRESS) {
        *err = errno;
        close(fd);
        return PORT_NO_SOCK;
    }
    return fd;
}

/* The local address and port the stack gave the socket (0), or -1: the source it chose when the
 * application bound the port alone. */
static int port_local(port_sock s, endpoint *e) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(s, (struct sockaddr *)&ss, &len) < 0) return -1;
    from_sockaddr(&ss, e);
    return 0;
}

/* 0: connected; PORT_AGAIN: still opening; else the error that ended the open. */
static int port_connect_result(port_sock s) {
    struct pollfd p;
    int soerr = 0;
    socklen_t len = sizeof soerr;
    p.fd = s; p.events = POLLOUT; p.revents = 0;
    if (poll(&p, 1, 0) <= 0) return PORT_AGAIN;
    if (getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0) return errno;
    return soerr;
}

/* Up to n bytes within timeout_ms: >0 the count, 0 end of stream, -1 with *err (PORT_AGAIN: none). */
static int port_recv(port_sock s, unsigned char *buf, int n, int timeout_ms, int *err) {
    struct pollfd p;
    ssize_t got;
    p.fd = s; p.events = POLLIN; p.revents = 0;
    if (poll(&p, 1, timeout_ms) <= 0) { *err = PORT_AGAIN; return -1; }
    got = recv(s, buf, (size_t)n, 0);
    if (got < 0) { *err = (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? PORT_AGAIN : errno; return -1; }
    return (int)got;
}

/* Up to n bytes into the send buffer, waiting at most timeout_ms for room: the count taken, or -1 with *err.
 * urgent: as urgent data (MSG_OOB: the urgent pointer follows the last byte). */
static int port_send(port_sock s, const unsigned char *buf, int n, int urgent, int timeout_ms, int *err) {
    long long deadline = port_millis() + timeout_ms;
    int sent = 0;
#ifdef MSG_NOSIGNAL
    const int flags = MSG_NOSIGNAL | (urgent ? MSG_OOB : 0);
#else
    const int flags = urgent ? MSG_OOB : 0;
#endif
    while (sent < n) {
        struct pollfd p;
        long long left = deadline - port_millis();
        ssize_t r = send(s, buf + sent, (size_t)(n - sent), flags);
        if (r > 0) { sent += (int)r; continue; }
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            if (sent) break;
            *err = errno;
            return -1;
        }
        if (left <= 0) break;
        p.fd = s; p.events = POLLOUT; p.revents = 0;
        poll(&p, 1, (int)left);
    }
    return sent;
}

static int port_shutdown_wr(port_sock s) { return shutdown(s, SHUT_WR) < 0 ? errno : 0; }

static void port_close(port_sock s) { close(s); }

/* Close at once, without lingering: the connection is dropped (a RST), no orphan is left. */
static void port_abort(port_sock s) {
    struct linger lg;
    lg.l_onoff = 1; lg.l_linger = 0;
    setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(s);
}

/* The socket options a case may set, by the names the protocol uses. */
static const struct { const char *level, *name; int lvl, opt; } port_options[] = {
    {"IPPROTO_TCP", "TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY},
    {"SOL_SOCKET", "SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE},
    {"SOL_SOCKET", "SO_RCVBUF", SOL_SOCKET, SO_RCVBUF},
    {"SOL_SOCKET", "SO_SNDBUF", SOL_SOCKET, SO_SNDBUF},
    {"SOL_SOCKET", "SO_REUSEADDR", SOL_SOCKET, SO_REUSEADDR},
    {"IPPROTO_IP", "IP_TOS", IPPROTO_IP, IP_TOS},
    {"IPPROTO_IP", "IP_TTL", IPPROTO_IP, IP_TTL},
#ifdef IPV6_UNICAST_HOPS
    {"IPPROTO_IPV6", "IPV6_UNICAST_HOPS", IPPROTO_IPV6, IPV6_UNICAST_HOPS},
#endif
#ifdef IPV6_TCLASS
    {"IPPROTO_IPV6", "IPV6_TCLASS", IPPROTO_IPV6, IPV6_TCLASS},
#endif
#ifdef TCP_KEEPIDLE
    {"IPPROTO_TCP", "TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE},
#endif
#ifdef TCP_KEEPINTVL
    {"IPPROTO_TCP", "TCP_KEEPINTVL", IPPROTO_TCP, TCP_KEEPINTVL},
#endif
#ifdef TCP_KEEPCNT
    {"IPPROTO_TCP", "TCP_KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT},
#endif
#ifdef TCP_USER_TIMEOUT
    {"IPPROTO_TCP", "TCP_USER_TIMEOUT", IPPROTO_TCP, TCP_USER_TIMEOUT},
#endif
#ifdef TCP_MAXSEG
    {"IPPROTO_TCP", "TCP_MAXSEG", IPPROTO_TCP, TCP_MAXSEG},
#endif
};
#define PORT_UNKNOWN_OPTION (-2)

/* 0, PORT_UNKNOWN_OPTION (no such option on this platform), or the error the stack gave. */
static int port_setsockopt(port_sock s, const char *level, const char *name, long value) {
    size_t i;
    for (i = 0; i < sizeof port_options / sizeof port_options[0]; i++) {
        if (strcmp(port_options[i].level, level) == 0 && strcmp(port_options[i].name, name) == 0) {
            int v = (int)value;
            return setsockopt(s, port_options[i].lvl, port_options[i].opt, &v, sizeof v) < 0 ? errno : 0;
        }
    }
    return PORT_UNKNOWN_OPTION;
}

/* 0 with *value, PORT_UNKNOWN_OPTION (no such option on this platform), or the error the stack gave. */
static int port_getsockopt(port_sock s, const char *level, const char *name, long *value) {
    size_t i;
    for (i = 0; i < sizeof port_options / sizeof port_options[0]; i++) {
        if (strcmp(port_options[i].level, level) == 0 && strcmp(port_options[i].name, name) == 0) {
            int v = 0;
            socklen_t len = sizeof v;
            if (getsockopt(s, port_options[i].lvl, port_options[i].opt, &v, &len) < 0) return errno;
            *value = v;
            return 0;
        }
    }
    return PORT_UNKNOWN_OPTION;
}

/* The connection's TCP state by its RFC 9293 name, or NULL when the platform cannot tell. */
#if defined(__linux__) && defined(TCP_INFO)
#define PORT_HAS_STATE 1
static const char *port_state(port_sock s) {
    static const char *names[] = {"?", "ESTABLISHED", "SYN_SENT", "SYN_RCVD", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT",
                                  "CLOSED", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "SYN_RCVD"};
    struct tcp_info info;
    socklen_t len = sizeof info;
    memset(&info, 0, sizeof info);
    if (getsockopt(s, IPPROTO_TCP, TCP_INFO, &info, &len) < 0 || info.tcpi_state == 0
        || info.tcpi_state >= sizeof names / sizeof names[0])
        return NULL;
    return names[info.tcpi_state];
}
#elif defined(__FreeBSD__) && defined(TCP_INFO)
#define PORT_HAS_STATE 1
static const char *port_state(port_sock s) {
    static const char *names[] = {"CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT_1",
                                  "CLOSING", "LAST_ACK", "FIN_WAIT_2", "TIME_WAIT"};
    struct tcp_info info;
    socklen_t len = sizeof info;
    memset(&info, 0, sizeof info);
    if (getsockopt(s, IPPROTO_TCP, TCP_INFO, &info, &len) < 0 || info.tcpi_state >= sizeof names / sizeof names[0])
        return NULL;
    return names[info.tcpi_state];
}
#else
#define PORT_HAS_STATE 0
static const char *port_state(port_sock s) { (void)s; return NULL; }
#endif

/* -- the control channel: stdin/stdout (a tty: raw), or UDP -- */
static int ctl_udp = -1;
static struct sockaddr_storage ctl_peer;
static socklen_t ctl_peer_len;
static char ctl_in[MAX_REQUEST + 2];
static size_t ctl_have;
static int ctl_skipping;  /* inside an overlong line: dropped up to its newline */

static void port_on_signal(int sig) { (void)sig; port_stopping = 1; }

/* Open the channel: spec NULL for stdin/stdout, else "IP:PORT" to serve UDP on.  0 when open. */
static int port_ctl_open(const char *udp) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = port_on_signal;  /* no SA_RESTART: a blocking read ends, the agent exits cleanly */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (udp == NULL) {
        if (isatty(0)) {  /* a serial line: raw bytes, no echo, no line editing */
            struct termios t;
            if (tcgetattr(0, &t) == 0) {
                t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
                t.c_oflag &= ~(tcflag_t)OPOST;
                t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
                t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
                t.c_cflag |= CS8 | CLOCAL | CREAD;
                t.c_cc[VMIN] = 1;
                t.c_cc[VTIME] = 0;
                tcsetattr(0, TCSANOW, &t);
            }
        }
        return 0;
    }
    {
        char host[64];
        const char *colon = strrchr(udp, ':');
        endpoint e;
        struct sockaddr_storage ss;
        socklen_t len;
        size_t hl;
        if (!colon || colon == udp) return -1;
        hl = (size_t)(colon - udp);
        if (udp[0] == '[' && hl >= 2 && udp[hl - 1] == ']') { udp++; hl -= 2; }
        if (hl >= sizeof host) return -1;
        memcpy(host, udp, hl);
        host[hl] = 0;
        memset(&e, 0, sizeof e);
        if (!port_parse_ip(host, &e)) return -1;
        e.port = (unsigned short)atoi(colon + 1);
        ctl_udp = socket(e.family == 6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
        if (ctl_udp < 0 || bind(ctl_udp, (struct sockaddr *)&ss, to_sockaddr(&e, &ss)) < 0) return -1;
        len = sizeof ss;
        getsockname(ctl_udp, (struct sockaddr *)&ss, &len);
        from_sockaddr(&ss, &e);
        port_format_ip(&e, host, sizeof host);
        port_log(e.family == 6 ? "serving on udp [%s]:%u" : "serving on udp %s:%u", host, (unsigned)e.port);
        return 0;
    }
}

/* The next request into buf (NUL-terminated, no newline): its length, -1 at end of input or on a
 * stop signal, -2 for a request too long (its text dropped).  *peer names the sender (0 on stdio). */
static int port_ctl_recv(char *buf, int cap, unsigned long *peer) {
    if (ctl_udp >= 0) {
        for (;;) {
            ssize_t n;
            size_t i;
            ctl_peer_len = sizeof ctl_peer;
            n = recvfrom(ctl_udp, buf, (size_t)cap, 0, (struct sockaddr *)&ctl_peer, &ctl_peer_len);
            if (n < 0) {
                if (errno == EINTR && !port_stopping) continue;
                return -1;
            }
            *peer = 5381;
            for (i = 0; i < ctl_peer_len; i++) *peer = *peer * 33 + ((unsigned char *)&ctl_peer)[i];
            if (n >= cap) return -2;
            buf[n] = 0;
            return (int)n;
        }
    }
    *peer = 0;
    for (;;) {
        char *nl = memchr(ctl_in, '\n', ctl_have);
        ssize_t n;
        if (nl) {
            size_t len = (size_t)(nl - ctl_in);
            int skipped = ctl_skipping;
            ctl_skipping = 0;
            if (!skipped && len < (size_t)cap) {
                memcpy(buf, ctl_in, len);
                buf[len] = 0;
            }
            memmove(ctl_in, nl + 1, ctl_have - len - 1);
            ctl_have -= len + 1;
            if (skipped || len >= (size_t)cap) return -2;
            return (int)len;
        }
        if (ctl_have >= sizeof ctl_in - 1) { ctl_skipping = 1; ctl_have = 0; }
        n = read(0, ctl_in + ctl_have, sizeof ctl_in - 1 - ctl_have);
        if (n < 0 && errno == EINTR && !port_stopping) continue;
        if (n <= 0) return -1;
        ctl_have += (size_t)n;
    }
}

/* One response (the newline is added here) to the sender of the last request. */
static void port_ctl_send(const char *buf, int len) {
    if (ctl_udp >= 0) {
        if (sendto(ctl_udp, buf, (size_t)len, 0, (struct sockaddr *)&ctl_peer, ctl_peer_len) < 0)
            port_log("answer not sent: %s", strerror(errno));  /* lost as a datagram may be: asked again */
        return;
    }
    {
        int off = 0;
        while (off < len) {
            ssize_t n = write(1, buf + off, (size_t)(len - off));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return;
            off += (int)n;
        }
        while (write(1, "\n", 1) < 0 && errno == EINTR) {}
    }
}

/* ================================================================================================
 * 3. The portable agent: nothing below calls the platform except through section 2.
 * ================================================================================================ */

/* -- a JSON reader for flat requests: {"key": value, ...}, one nested object ("conn") -- */
enum jtype { J_STR, J_NUM, J_TRUE, J_FALSE, J_NULL, J_OBJ, J_ARR, J_OTHER };
typedef struct {
    char key[24];       /* "op", "conn.tester", ... */
    enum jtype type;
    const char *str;    /* J_STR: decoded, NUL-terminated (in the request buffer) */
    char num[32];       /* J_NUM: the number's text; J_ARR: how many items ("route.0", "route.1", ... follow) */
} jfield;

typedef struct {
    jfield f[MAX_FIELDS];
    int n;
    const char *error;
} jrequest;

static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    return p;
}

/* A string at p (on its quote), decoded in place; returns the text after it, NULL if malformed. */
static char *read_string(char *p, const char **out) {
    char *w = p, *r = p + 1;
    *out = p;
    while (*r && *r != '"') {
        if ((unsigned char)*r < 0x20) return NULL;
        if (*r == '\\') {
            r++;
            switch (*r) {
            case '"': case '\\': case '/': *w++ = *r; break;
            case 'b': *w++ = '\b'; break;
            case 'f': *w++ = '\f'; break;
            case 'n': *w++ = '\n'; break;
            case 'r': *w++ = '\r'; break;
            case 't': *w++ = '\t'; break;
            case 'u': {
                unsigned v = 0;
                int i;
                for (i = 1; i <= 4; i++) {
                    char c = r[i];
                    v = v * 16 + (unsigned)(c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                            : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 99);
                    if (v > 0xffff) return NULL;
                }
                if (v == 0 || v > 0x7f) return NULL;  /* the protocol's strings are ASCII */
                *w++ = (char)v;
                r += 4;
                break;
            }
            default: return NULL;
            }
            r++;
        } else {
            *w++ = *r++;
        }
    }
    if (*r != '"') return NULL;
    *w = 0;
    return r + 1;
}

static char *skip_value(char *p, int depth);

static char *skip_container(char *p, int depth, char close) {
    p = (char *)skip_ws(p + 1);
    if (*p == close) return p + 1;
    for (;;) {
        const char *ignored;
        if (close == '}') {
            if (*p != '"' || !(p = read_string(p, &ignored))) return NULL;
            p = (char *)skip_ws(p);
            if (*p++ != ':') return NULL;
        }
        if (!(p = skip_value((char *)skip_ws(p), depth + 1))) return NULL;
        p = (char *)skip_ws(p);
        if (*p == ',') { p = (char *)skip_ws(p + 1); continue; }
        return *p == close ? p + 1 : NULL;
    }
}

static char *skip_value(char *p, int depth) {
    const char *ignored;
    if (depth > 8) return NULL;
    if (*p == '"') return read_string(p, &ignored);
    if (*p == '{') return skip_container(p, depth, '}');
    if (*p == '[') return skip_container(p, depth, ']');
    if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0) return p + 4;
    if (strncmp(p, "false", 5) == 0) return p + 5;
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
        char *end;
        strtod(p, &end);
        return end == p ? NULL : end;
    }
    return NULL;
}

/* One object's members into req, their keys prefixed (the nested "conn" object: "conn."). */
static char *read_object(char *p, jrequest *req, const char *prefix) {
    p = (char *)skip_ws(p);
    if (*p++ != '{') return NULL;
    p = (char *)skip_ws(p);
    if (*p == '}') return p + 1;
    for (;;) {
        const char *key;
        jfield *f;
        if (*p != '"' || !(p = read_string(p, &key))) return NULL;
        p = (char *)skip_ws(p);
        if (*p++ != ':') return NULL;
        p = (char *)skip_ws(p);
        if (req->n >= MAX_FIELDS) { req->error = "too many fields"; return NULL; }
        f = &req->f[req->n];
        snprintf(f->key, sizeof f->key, "%s%s", prefix, key);
        if (*p == '"') {
            f->type = J_STR;
            if (!(p = read_string(p, &f->str))) return NULL;
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            char *end;
            size_t len;
            strtod(p, &end);
            len = (size_t)(end - p);
            if (end == p || len >= sizeof f->num) return NULL;
            f->type = J_NUM;
            memcpy(f->num, p, len);
            f->num[len] = 0;
            p = end;
        } else if (*p == '[' && prefix[0] == 0) {  /* an array: its items are fields "key.0", "key.1", ... */
            int count = 0;
            char name[24];
            f->type = J_ARR;
            snprintf(name, sizeof name, "%s", f->key);
            req->n++;
            p = (char *)skip_ws(p + 1);
            while (*p != ']') {
                jfield *item;
                if (req->n >= MAX_FIELDS) { req->error = "too many fields"; return NULL; }
                item = &req->f[req->n++];
                snprintf(item->key, sizeof item->key, "%.18s.%u", name, (unsigned)(unsigned char)count);
                count++;
                if (*p == '"') {
                    item->type = J_STR;
                    if (!(p = read_string(p, &item->str))) return NULL;
                } else {
                    item->type = J_OTHER;
                    if (!(p = skip_value(p, 1))) return NULL;
                }
                p = (char *)skip_ws(p);
                if (*p == ',') { p = (char *)skip_ws(p + 1); continue; }
                if (*p != ']') return NULL;
            }
            p++;
            snprintf(f->num, sizeof f->num, "%d", count);
            goto next;
        } else if (*p == '{' && prefix[0] == 0) {
            f->type = J_OBJ;
            req->n++;
            if (!(p = read_object(p, req, "conn."))) return NULL;
            if (strcmp(f->key, "conn") != 0) {  /* an object under another key: its members are not ours */
                int i, keep = 0;
                for (i = 0; i < req->n; i++)
                    if (strncmp(req->f[i].key, "conn.", 5) != 0 || &req->f[i] < f) req->f[keep++] = req->f[i];
                req->n = keep;
            }
            goto next;
        } else {
            if (strncmp(p, "true", 4) == 0) f->type = J_TRUE;
            else if (strncmp(p, "false", 5) == 0) f->type = J_FALSE;
            else if (strncmp(p, "null", 4) == 0) f->type = J_NULL;
            else f->type = J_OTHER;
            if (!(p = skip_value(p, 1))) return NULL;
        }
        req->n++;
    next:
        p = (char *)skip_ws(p);
        if (*p == ',') { p = (char *)skip_ws(p + 1); continue; }
        if (*p == '}') return p + 1;
        return NULL;
    }
}

static int json_parse(char *text, jrequest *req) {
    char *end;
    req->n = 0;
    req->error = NULL;
    end = read_object(text, req, "");
    if (!end || *skip_ws(end) != 0) {
        if (!req->error) req->error = "not a JSON object";
        return 0;
    }
    return 1;
}

static const jfield *field(const jrequest *req, const char *key) {
    int i;
    for (i = req->n - 1; i >= 0; i--)  /* the last of duplicate keys wins, as in most JSON readers */
        if (strcmp(req->f[i].key, key) == 0) return &req->f[i];
    return NULL;
}

/* -- the response being built -- */
static char out[MAX_RESPONSE];
static int out_len;
static int out_full;

static void out_raw(const char *s, int n) {
    if (out_len + n >= MAX_RESPONSE - 2) { out_full = 1; return; }
    memcpy(out + out_len, s, (size_t)n);
    out_len += n;
}

static void out_s(const char *s) { out_raw(s, (int)strlen(s)); }

static void out_fmt(const char *fmt, ...) {
    char tmp[128];
    int n;
    va_list ap;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) out_raw(tmp, n < (int)sizeof tmp ? n : (int)sizeof tmp - 1);
}

static void out_json_string(const char *s) {
    out_raw("\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { out_raw("\\", 1); out_raw((const char *)s, 1); }
        else if (c < 0x20 || c >= 0x7f) out_fmt("\\u%04x", c);
        else out_raw((const char *)s, 1);
    }
    out_raw("\"", 1);
}

static void out_id(const jfield *id) {
    if (!id) out_s("null");
    else if (id->type == J_NUM) out_s(id->num);
    else if (id->type == J_STR) out_json_string(id->str);
    else out_s("null");
}

static void format_endpoint(const endpoint *e, char *buf, size_t cap) {
    char ip[64];
    port_format_ip(e, ip, sizeof ip);
    snprintf(buf, cap, e->family == 6 ? "[%s]:%u" : "%s:%u", ip, (unsigned)e->port);
}

/* -- tables -- */
typedef struct {
    int used;
    endpoint tester, target;   /* as the tester sees the connection */
    port_sock sock;            /* PORT_NO_SOCK once the application closed it */
    int connecting;            /* an active open not yet resolved */
    int shut_wr;               /* our FIN is queued: a socket the stack calls closed may be in TIME_WAIT */
    int eof_seen;
    int pending;               /* an error for the next operation on it (0: none) */
    char seen[16];             /* the state at the last query, for state events */
    long long touched;
} conn_t;

typedef struct {
    int used;
    endpoint local;            /* family 0: any address */
    port_sock sock;
} listener_t;

typedef struct {
    double at;
    int has_conn, port;
    endpoint tester, target;
    char kind[8];
    char detail[EVENT_DETAIL];
    char old_state[16], new_state[16];
} event_t;

static conn_t conns[MAX_CONNS];
static listener_t listeners[MAX_LISTENERS];
static event_t events[MAX_EVENTS];
static int ev_first, ev_count, ev_lost;
static unsigned char data_buf[MAX_DATA];

static int same_ep(const endpoint *a, const endpoint *b) {
    return a->family == b->family && a->port == b->port && memcmp(a->addr, b->addr, a->family == 6 ? 16 : 4) == 0;
}

static void record(const conn_t *c, int port, const char *kind, const char *old_state, const char *new_state,
                   const char *fmt, ...) {
    event_t *e;
    va_list ap;
    if (ev_count == MAX_EVENTS) { ev_first = (ev_first + 1) % MAX_EVENTS; ev_count--; ev_lost++; }
    e = &events[(ev_first + ev_count++) % MAX_EVENTS];
    memset(e, 0, sizeof *e);
    e->at = port_clock();
    e->port = port;
    if (c) { e->has_conn = 1; e->tester = c->tester; e->target = c->target; }
    snprintf(e->kind, sizeof e->kind, "%s", kind);
    snprintf(e->old_state, sizeof e->old_state, "%s", old_state ? old_state : "");
    snprintf(e->new_state, sizeof e->new_state, "%s", new_state ? new_state : "");
    va_start(ap, fmt);
    vsnprintf(e->detail, sizeof e->detail, fmt, ap);
    va_end(ap);
}

/* A free slot, else the least recently used one the application has closed; NULL when all are live. */
static conn_t *free_conn(void) {
    conn_t *best = NULL;
    int i;
    for (i = 0; i < MAX_CONNS; i++) {
        if (!conns[i].used) return &conns[i];
        if (conns[i].sock == PORT_NO_SOCK && (!best || conns[i].touched < best->touched)) best = &conns[i];
    }
    return best;
}

/* Take every connection the listeners hold: the application accepts when an operation needs one. */
static void accept_pending(void) {
    int i;
    for (i = 0; i < MAX_LISTENERS; i++) {
        while (listeners[i].used) {
            conn_t *c = free_conn();
            endpoint local, remote;
            int err = 0;
            port_sock s;
            if (!c) return;  /* the table is full: they wait in the stack's backlog */
            s = port_accept(listeners[i].sock, &local, &remote, &err);
            if (s == PORT_NO_SOCK) {
                if (err != PORT_AGAIN) port_log("accept: %s", port_strerror(err));
                break;
            }
            memset(c, 0, sizeof *c);
            c->used = 1;
            c->tester = remote;
            c->target = local;
            c->sock = s;
            c->touched = port_millis();
            record(c, 0, "app", NULL, NULL, "application accept");
        }
    }
}

/* Resolve an active open that has finished: a failure becomes an event and the next call's error. */
static void poll_connect(conn_t *c) {
    int r;
    if (!c->connecting || c->sock == PORT_NO_SOCK) return;
    r = port_connect_result(c->sock);
    if (r == PORT_AGAIN) return;
    c->connecting = 0;
    if (r) {
        c->pending = r;
        record(c, 0, r == ECONNREFUSED || r == ECONNRESET ? "reset" : "app", NULL, NULL,
               "the application's connect failed: %s", port_strerror(r));
    }
}

static conn_t *lookup(const endpoint *tester, const endpoint *target) {
    int i;
    for (i = 0; i < MAX_CONNS; i++)
        if (conns[i].used && same_ep(&conns[i].tester, tester) && same_ep(&conns[i].target, target)) return &conns[i];
    return NULL;
}

/* -- operations: each writes its result fields into the response, or returns an error -- */
typedef struct {
    const char *kind;  /* NULL: success; "app": the target's application failed; "agent": a bad request */
    const char *errno_name;  /* with "app": the error's POSIX name (port_errno_name), or NULL */
    char message[200];
} result_t;

static int fail(result_t *r, const char *kind, const char *fmt, ...) {
    va_list ap;
    r->kind = kind;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    return 0;
}

#define BAD(...) fail(res, "agent", __VA_ARGS__)
#define APP(...) fail(res, "app", __VA_ARGS__)

static int get_int(const jrequest *req, const char *key, long lo, long hi, long *v, result_t *res, const char *op) {
    const jfield *f = field(req, key);
    char *end;
    if (!f) return BAD("bad request: \"%s\" needs \"%s\"", op, key);
    if (f->type != J_NUM || strpbrk(f->num, ".eE")) return BAD("bad request: \"%s\" is an integer", key);
    errno = 0;
    *v = strtol(f->num, &end, 10);
    if (errno || *end || *v < lo || *v > hi) return BAD("bad request: \"%s\" is an integer in %ld..%ld, not %s", key, lo, hi, f->num);
    return 1;
}

static int get_str(const jrequest *req, const char *key, const char **v, result_t *res, const char *op) {
    const jfield *f = field(req, key);
    if (!f) return BAD("bad request: \"%s\" needs \"%s\"", op, key);
    if (f->type != J_STR || !f->str[0]) return BAD("bad request: \"%s\" is a non-empty string", key);
    *v = f->str;
    return 1;
}

static int parse_endpoint(const char *text, endpoint *e) {
    char host[64];
    const char *colon = strrchr(text, ':');
    size_t hl;
    char *end;
    long port;
    if (!colon || colon == text) return 0;
    hl = (size_t)(colon - text);
    if (text[0] == '[') {
        if (hl < 2 || text[hl - 1] != ']') return 0;
        text++;
        hl -= 2;
    }
    if (hl >= sizeof host) return 0;
    memcpy(host, text, hl);
    host[hl] = 0;
    memset(e, 0, sizeof *e);
    if (!port_parse_ip(host, e) || (e->family == 6 && text[-1] != '[' && strchr(host, ':') == NULL)) return 0;
    port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535) return 0;
    e->port = (unsigned short)port;
    return 1;
}

static int get_conn(const jrequest *req, endpoint *tester, endpoint *target, result_t *res, const char *op) {
    const jfield *c = field(req, "conn"), *t = field(req, "conn.tester"), *g = field(req, "conn.target");
    if (!c) return BAD("bad request: \"%s\" needs \"conn\"", op);
    if (c->type != J_OBJ || !t || !g || t->type != J_STR || g->type != J_STR || !parse_endpoint(t->str, tester)
        || !parse_endpoint(g->str, target))
        return BAD("bad request: \"conn\" is {\"tester\": \"ip:port\", \"target\": \"ip:port\"}");
    return 1;
}

/* The connection the request names, accepted if it is waiting; an error if there is none to use. */
static conn_t *open_conn(const jrequest *req, result_t *res, const char *op, int need_sock, int take_pending) {
    endpoint tester, target;
    char name[80];
    conn_t *c;
    if (!get_conn(req, &tester, &target, res, op)) return NULL;
    accept_pending();
    c = lookup(&tester, &target);
    format_endpoint(&tester, name, sizeof name);
    if (!c) {
        int full = free_conn() == NULL;
        APP("cannot %s: no connection from %s%s", op, name, full ? " (the agent's connection table is full)" : "");
        return NULL;
    }
    c->touched = port_millis();
    poll_connect(c);
    if (need_sock && c->sock == PORT_NO_SOCK) {
        APP("cannot %s: the application has already closed the connection from %s", op, name);
        return NULL;
    }
    if (take_pending && c->pending) {
        int err = c->pending;
        c->pending = 0;
        res->errno_name = port_errno_name(err);
        APP("%s", port_strerror(err));
        return NULL;
    }
    return c;
}

static int app_error(conn_t *c, result_t *res, const char *op, int err) {
    if (err == ECONNRESET) record(c, 0, "reset", NULL, NULL, "the application's %s saw the connection reset", op);
    res->errno_name = port_errno_name(err);
    return APP("%s", port_strerror(err));
}

static int op_hello(const jrequest *req, result_t *res) {
    (void)req; (void)res;
    out_s(",\"agent\":\"c\",\"version\":\"" AGENT_VERSION "\",\"capabilities\":");
    out_s(PORT_HAS_STATE ? "[\"app\",\"state\"]" : "[\"app\"]");
    out_s(",\"clock\":\"realtime\",\"detail\":");
    out_json_string(port_describe());
    out_fmt(",\"max_read\":%d,\"max_write\":%d", MAX_DATA, MAX_DATA);
    return 1;
}

static int op_listen(const jrequest *req, result_t *res) {
    long port;
    endpoint local;
    const jfield *ip = field(req, "ip");
    int i, err = 0;
    listener_t *slot = NULL;
    char name[80];
    if (!get_int(req, "port", 1, 65535, &port, res, "listen")) return 0;
    memset(&local, 0, sizeof local);
    if (ip && ip->type != J_NULL && (ip->type != J_STR || !port_parse_ip(ip->str, &local)))
        return BAD("bad request: \"ip\" is an IP address");
    local.port = (unsigned short)port;
    for (i = 0; i < MAX_LISTENERS; i++) {
        if (listeners[i].used && listeners[i].local.family == local.family
            && (local.family == 0 ? listeners[i].local.port == local.port : same_ep(&listeners[i].local, &local)))
            return 1;  /* idempotent */
        if (!listeners[i].used && !slot) slot = &listeners[i];
    }
    if (local.family) format_endpoint(&local, name, sizeof name); else snprintf(name, sizeof name, "*:%ld", port);
    if (!slot) return APP("listen on %s failed: the agent has no free listener slot (%d)", name, MAX_LISTENERS);
    slot->sock = port_listen(&local, &err);
    if (slot->sock == PORT_NO_SOCK) return APP("listen on %s failed: %s", name, port_strerror(err));
    slot->used = 1;
    slot->local = local;
    record(NULL, (int)port, "app", NULL, NULL, "application listen on %s", name);
    return 1;
}

/* Close a listening socket, after taking what it holds (closing it resets what it never handed over);
 * the connections it gave the application stay (RFC 9293 MUST-41). */
static int op_unlisten(const jrequest *req, result_t *res) {
    long port;
    endpoint local;
    const jfield *ip = field(req, "ip");
    int i;
    char name[80];
    if (!get_int(req, "port", 1, 65535, &port, res, "unlisten")) return 0;
    memset(&local, 0, sizeof local);
    if (ip && ip->type != J_NULL && (ip->type != J_STR || !port_parse_ip(ip->str, &local)))
        return BAD("bad request: \"ip\" is an IP address");
    local.port = (unsigned short)port;
    if (local.family) format_endpoint(&local, name, sizeof name); else snprintf(name, sizeof name, "*:%ld", port);
    accept_pending();
    for (i = 0; i < MAX_LISTENERS; i++) {
        if (listeners[i].used && listeners[i].local.family == local.family
            && (local.family == 0 ? listeners[i].local.port == local.port : same_ep(&listeners[i].local, &local))) {
            port_close(listeners[i].sock);
            memset(&listeners[i], 0, sizeof listeners[i]);
            record(NULL, (int)port, "app", NULL, NULL, "application closes its listening socket on %s", name);
            return 1;
        }
    }
    return APP("unlisten: no listening socket on %s", name);
}

static int op_connect(const jrequest *req, result_t *res) {
    endpoint tester, target;
    conn_t *c;
    int err = 0, port_only = 0;
    char name[80];
    port_sock s;
    const jfield *bind_f = field(req, "bind"), *route_f = field(req, "route");
    endpoint route[MAX_ROUTE];
    int hops = 0, i;
    if (!get_conn(req, &tester, &target, res, "connect")) return 0;
    if (route_f) {
        hops = route_f->type == J_ARR ? atoi(route_f->num) : -1;
        if (hops < 0 || hops > MAX_ROUTE) return BAD("bad request: \"route\" is a list of at most %d IPv4 addresses", MAX_ROUTE);
        for (i = 0; i < hops; i++) {
            char key[24];
            const jfield *hop;
            snprintf(key, sizeof key, "route.%d", i);
            hop = field(req, key);
            if (!hop || hop->type != J_STR || !port_parse_ip(hop->str, &route[i]) || route[i].family != 4)
                return BAD("bad request: \"route\" is a list of at most %d IPv4 addresses", MAX_ROUTE);
        }
        if (hops > 0 && target.family != 4) return APP("cannot connect on a source route over IPv6 (RFC 5095 removed it)");
    }
    if (bind_f && (bind_f->type != J_STR || (strcmp(bind_f->str, "address") != 0 && strcmp(bind_f->str, "port") != 0)))
        return BAD("bad request: \"bind\" is \"address\" or \"port\"");
    port_only = bind_f && strcmp(bind_f->str, "port") == 0;
    if (tester.family != target.family) return BAD("bad request: the connection's two addresses are of two families");
    c = lookup(&tester, &target);
    if (c && c->sock != PORT_NO_SOCK) return APP("cannot connect: the application holds that connection already");
    if (!c && !(c = free_conn())) return APP("cannot connect: the agent's connection table is full (%d)", MAX_CONNS);
    if (c->used && c->sock == PORT_NO_SOCK) memset(c, 0, sizeof *c);  /* a closed one's slot, reused */
    format_endpoint(&tester, name, sizeof name);
    s = port_connect(&target, &tester, port_only, route, hops, &err);
    if (s == PORT_NO_SOCK && err == PORT_NO_ROUTE)
        return fail(res, "unsupported", "the stack cannot set a source route (IP_OPTIONS) before connecting");
    if (s == PORT_NO_SOCK) return APP("connect to %s failed: %s", name, port_strerror(err));
    if (port_only) {  /* named by the source the stack chose: the address the tester sees it on */
        endpoint chosen;
        if (port_local(s, &chosen) == 0 && chosen.family == target.family) memcpy(target.addr, chosen.addr, sizeof target.addr);
    }
    memset(c, 0, sizeof *c);
    c->used = 1;
    c->tester = tester;
    c->target = target;
    c->sock = s;
    c->connecting = 1;
    c->touched = port_millis();
    record(c, 0, "app", NULL, NULL, "application connect to %s", name);
    out_s(port_only ? ",\"bind\":\"port\"" : ",\"bind\":\"address\"");
    if (hops > 0) {
        out_s(",\"route\":[");
        for (i = 0; i < hops; i++) {
            char ip[64];
            port_format_ip(&route[i], ip, sizeof ip);
            if (i) out_s(",");
            out_json_string(ip);
        }
        out_s("]");
    }
    return 1;
}

static void out_hex(const unsigned char *b, int n) {
    static const char digits[] = "0123456789abcdef";
    int i;
    for (i = 0; i < n; i++) {
        char two[2];
        two[0] = digits[b[i] >> 4];
        two[1] = digits[b[i] & 15];
        out_raw(two, 2);
    }
}

static int op_read(const jrequest *req, result_t *res) {
    long count;
    double timeout = 0;
    const jfield *t = field(req, "timeout");
    conn_t *c;
    long long deadline;
    int got = 0, eof = 0, err = 0;
    if (!get_int(req, "count", 0, 1L << 24, &count, res, "read")) return 0;
    if (t) {
        char *end;
        if (t->type != J_NUM) return BAD("bad request: \"timeout\" is a number of seconds >= 0");
        timeout = strtod(t->num, &end);
        if (*end || !(timeout >= 0)) return BAD("bad request: \"timeout\" is a number of seconds >= 0");
    }
    if (!(c = open_conn(req, res, "read", 1, 1))) return 0;
    if (count > MAX_DATA) count = MAX_DATA;  /* fewer is a valid answer: the tester reads on */
    deadline = port_millis() + (timeout * 1000 > MAX_READ_WAIT_MS ? MAX_READ_WAIT_MS : (long long)(timeout * 1000));
    while (got < count && !c->connecting) {
        long long left = deadline - port_millis();
        int n = port_recv(c->sock, data_buf + got, (int)count - got, left > 0 ? (int)left : 0, &err);
        if (n > 0) { got += n; continue; }
        if (n == 0) { eof = 1; break; }
        if (err == PORT_AGAIN) { if (left <= 0) break; continue; }
        if (!got) return app_error(c, res, "read", err);
        c->pending = err;  /* the bytes already read go back; the next call reports the error */
        break;
    }
    if (got || (eof && !c->eof_seen)) {
        c->eof_seen |= eof;
        record(c, 0, "app", NULL, NULL, "application read %d bytes%s", got, eof ? " (end of stream)" : "");
    }
    out_s(",\"data\":\"");
    out_hex(data_buf, got);
    out_fmt("\",\"eof\":%s", eof ? "true" : "false");
    return 1;
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int op_write(const jrequest *req, result_t *res) {
    const char *hex;
    const jfield *f = field(req, "data"), *u = field(req, "urgent");
    size_t len, i;
    conn_t *c;
    int sent, err = 0, urgent = u && u->type == J_TRUE;
    if (u && u->type != J_TRUE && u->type != J_FALSE) return BAD("bad request: \"urgent\" is true or false");
    if (!f) return BAD("bad request: \"write\" needs \"data\"");
    if (f->type != J_STR) return BAD("bad request: \"data\" is a hex string");
    hex = f->str;
    len = strlen(hex);
    if (len % 2) return BAD("bad request: \"data\" is a hex string");
    if (len / 2 > MAX_DATA) return BAD("bad request: at most %d bytes per write (hello's max_write)", MAX_DATA);
    for (i = 0; i < len; i += 2) {
        int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
        if (hi < 0 || lo < 0) return BAD("bad request: \"data\" is a hex string");
        data_buf[i / 2] = (unsigned char)(hi * 16 + lo);
    }
    if (!(c = open_conn(req, res, "write", 1, 1))) return 0;
    sent = port_send(c->sock, data_buf, (int)(len / 2), urgent, WRITE_TIMEOUT_MS, &err);
    if (sent < 0 && urgent && err == EOPNOTSUPP) return fail(res, "unsupported", "the stack cannot send urgent data");
    if (sent < 0) return app_error(c, res, "write", err);
    record(c, 0, "app", NULL, NULL, "application write %d bytes%s", sent, urgent ? " urgent (MSG_OOB)" : "");
    out_fmt(",\"written\":%d%s", sent, urgent ? ",\"urgent\":true" : "");
    return 1;
}

static int op_shutdown(const jrequest *req, result_t *res) {
    conn_t *c = open_conn(req, res, "shutdown", 1, 1);
    int err;
    if (!c) return 0;
    if ((err = port_shutdown_wr(c->sock)) != 0) return app_error(c, res, "shutdown", err);
    c->shut_wr = 1;
    record(c, 0, "app", NULL, NULL, "application shutdown (SHUT_WR)");
    return 1;
}

static int op_close(const jrequest *req, result_t *res) {
    conn_t *c = open_conn(req, res, "close", 1, 0);  /* closing is still possible after an error */
    if (!c) return 0;
    port_close(c->sock);  /* FIN after the queued data, or RST if received data was left unread */
    c->sock = PORT_NO_SOCK;
    record(c, 0, "app", NULL, NULL, "application close");
    return 1;
}

/* The state, or NULL where the agent cannot see it: a connection the application closed (the stack
 * may hold it as an orphan in LAST_ACK, FIN_WAIT_*, TIME_WAIT), one not accepted yet (SYN_RCVD in the
 * backlog), one the stack calls closed after our FIN (it may be in TIME_WAIT, held apart). */
static int op_state(const jrequest *req, result_t *res) {
    endpoint tester, target;
    conn_t *c;
    const char *state = NULL;
    int i, listening = 0;
    if (!get_conn(req, &tester, &target, res, "state")) return 0;
    accept_pending();
    c = lookup(&tester, &target);
    if (c) {
        poll_connect(c);
        c->touched = port_millis();
        if (c->sock != PORT_NO_SOCK) state = port_state(c->sock);
        if (state && strcmp(state, "CLOSED") == 0 && c->shut_wr) state = NULL;
    } else {
        for (i = 0; i < MAX_LISTENERS; i++)
            if (listeners[i].used && listeners[i].local.port == target.port) listening = 1;
        if (!listening) state = "CLOSED";  /* no listener, never connected: no socket can hold it */
    }
    if (c && state && strcmp(c->seen, state) != 0) {
        record(c, 0, "state", c->seen[0] ? c->seen : NULL, state, "%s%s%s (seen by a state query)", c->seen[0] ? c->seen : "",
               c->seen[0] ? " -> " : "first observed in ", state);
        snprintf(c->seen, sizeof c->seen, "%s", state);
    }
    out_s(",\"state\":");
    if (state) out_json_string(state); else out_s("null");
    return 1;
}

static void out_event(const event_t *e) {
    char a[80], b[80];
    out_fmt("{\"at\":%.6f,\"conn\":", e->at);
    if (e->has_conn) {
        format_endpoint(&e->tester, a, sizeof a);
        format_endpoint(&e->target, b, sizeof b);
        out_s("{\"tester\":");
        out_json_string(a);
        out_s(",\"target\":");
        out_json_string(b);
        out_s("}");
    } else {
        out_s("null");
    }
    out_s(",\"kind\":");
    out_json_string(e->kind);
    out_s(",\"detail\":");
    out_json_string(e->detail);
    out_s(",\"old\":");
    if (e->old_state[0]) out_json_string(e->old_state); else out_s("null");
    out_s(",\"new\":");
    if (e->new_state[0]) out_json_string(e->new_state); else out_s("null");
    if (e->port) out_fmt(",\"port\":%d", e->port);
    out_s("}");
}

/* As many events as fit one response; the rest wait for the next call. */
static int op_events(const jrequest *req, result_t *res) {
    int i, first = 1;
    (void)req; (void)res;
    for (i = 0; i < MAX_CONNS; i++) if (conns[i].used) poll_connect(&conns[i]);
    out_s(",\"events\":[");
    if (ev_lost) {
        out_fmt("{\"at\":%.6f,\"conn\":null,\"kind\":\"agent\",\"detail\":\"%d earlier events were lost (the agent "
                "keeps %d)\",\"old\":null,\"new\":null}", port_clock(), ev_lost, MAX_EVENTS);
        ev_lost = 0;
        first = 0;
    }
    while (ev_count) {
        int mark = out_len;
        if (!first) out_s(",");
        out_event(&events[ev_first]);
        if (out_full || out_len > MAX_RESPONSE - 64) { out_len = mark; out_full = 0; break; }
        ev_first = (ev_first + 1) % MAX_EVENTS;
        ev_count--;
        first = 0;
    }
    out_s("]");
    return 1;
}

static int op_setsockopt(const jrequest *req, result_t *res) {
    const char *level, *name;
    long value, port = 0;
    int has_conn = field(req, "conn") != NULL, has_port = field(req, "port") != NULL, i, r, done = 0;
    if (has_conn == has_port) return BAD("bad request: \"setsockopt\" needs either \"conn\" or \"port\"");
    if (!get_str(req, "level", &level, res, "setsockopt") || !get_str(req, "name", &name, res, "setsockopt")
        || !get_int(req, "value", -2147483647L - 1, 2147483647L, &value, res, "setsockopt"))
        return 0;
    if (has_port && !get_int(req, "port", 1, 65535, &port, res, "setsockopt")) return 0;
    if (has_conn) {
        conn_t *c = open_conn(req, res, "setsockopt", 1, 1);
        if (!c) return 0;
        r = port_setsockopt(c->sock, level, name, value);
        done = 1;
    } else {
        r = 0;
        for (i = 0; i < MAX_LISTENERS && (r == 0); i++)
            if (listeners[i].used && listeners[i].local.port == port) { r = port_setsockopt(listeners[i].sock, level, name, value); done = 1; }
        if (!done) return APP("no listening socket on port %ld", port);
    }
    /* docs/agent-protocol.md: no such option, or a value the stack refuses, is "unsupported" (the case
       is skipped: the target cannot do what it asks), never a bad request (which is the engine's fault) */
    if (r == PORT_UNKNOWN_OPTION) return fail(res, "unsupported", "no socket option %s %s on this platform", level, name);
    if (r) return fail(res, "unsupported", "setsockopt %s %s=%ld refused by the stack: %s", level, name, value,
                       port_strerror(r));
    return 1;
}

static int op_getsockopt(const jrequest *req, result_t *res) {
    const char *level, *name;
    long value = 0, port = 0;
    int has_conn = field(req, "conn") != NULL, has_port = field(req, "port") != NULL, i, r = 0, done = 0;
    if (has_conn == has_port) return BAD("bad request: \"getsockopt\" needs either \"conn\" or \"port\"");
    if (!get_str(req, "level", &level, res, "getsockopt") || !get_str(req, "name", &name, res, "getsockopt")) return 0;
    if (has_port && !get_int(req, "port", 1, 65535, &port, res, "getsockopt")) return 0;
    if (has_conn) {
        conn_t *c = open_conn(req, res, "getsockopt", 1, 1);
        if (!c) return 0;
        r = port_getsockopt(c->sock, level, name, &value);
        done = 1;
    } else {
        for (i = 0; i < MAX_LISTENERS && !done; i++)
            if (listeners[i].used && listeners[i].local.port == port) { r = port_getsockopt(listeners[i].sock, level, name, &value); done = 1; }
        if (!done) return APP("no listening socket on port %ld", port);
    }
    if (r == PORT_UNKNOWN_OPTION) return fail(res, "unsupported", "no socket option %s %s on this platform", level, name);
    if (r == ENOPROTOOPT || r == EINVAL || r == EOPNOTSUPP)
        return fail(res, "unsupported", "the stack cannot read %s %s: %s", level, name, port_strerror(r));
    if (r) return BAD("bad request: getsockopt %s %s refused by the stack: %s", level, name, port_strerror(r));
    out_fmt(",\"value\":%ld", value);
    return 1;
}

static int op_forget(const jrequest *req, result_t *res) {
    endpoint tester, target;
    conn_t *c;
    if (!get_conn(req, &tester, &target, res, "forget")) return 0;
    accept_pending();
    if ((c = lookup(&tester, &target)) != NULL) {
        if (c->sock != PORT_NO_SOCK) port_abort(c->sock);
        memset(c, 0, sizeof *c);
    }
    return 1;
}

static void reset_all(void) {
    int i;
    accept_pending();
    for (i = 0; i < MAX_CONNS; i++) {
        if (conns[i].used && conns[i].sock != PORT_NO_SOCK) port_abort(conns[i].sock);
        memset(&conns[i], 0, sizeof conns[i]);
    }
    for (i = 0; i < MAX_LISTENERS; i++) {
        if (listeners[i].used) port_close(listeners[i].sock);
        memset(&listeners[i], 0, sizeof listeners[i]);
    }
}

static int op_reset(const jrequest *req, result_t *res) {
    (void)req; (void)res;
    reset_all();
    return 1;
}

static int op_quit(const jrequest *req, result_t *res) { (void)req; (void)res; return 1; }

static const struct { const char *name; int (*run)(const jrequest *, result_t *); } ops[] = {
    {"hello", op_hello}, {"listen", op_listen}, {"unlisten", op_unlisten}, {"connect", op_connect}, {"read", op_read}, {"write", op_write},
    {"shutdown", op_shutdown}, {"close", op_close}, {"state", op_state}, {"events", op_events},
    {"setsockopt", op_setsockopt}, {"getsockopt", op_getsockopt}, {"forget", op_forget}, {"reset", op_reset}, {"quit", op_quit},
};

/* -- requests in, responses out; a duplicate is answered from the replay cache -- */
typedef struct {
    int used;
    unsigned long peer, hash;
    char id[ID_MAX];
    int len;
    char response[MAX_RESPONSE];
} replay_t;

static replay_t replays[REPLAY_SLOTS];
static int replay_next;
static char request_buf[MAX_REQUEST + 2];

static unsigned long fnv1a(const char *s, int n) {
    unsigned long h = 2166136261UL;
    int i;
    for (i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619UL;
    return h & 0xffffffffUL;
}

static void error_response(const jfield *id, const char *kind, const char *message, const char *errno_name) {
    out_len = 0;
    out_full = 0;
    out_s("{\"id\":");
    out_id(id);
    out_s(",\"ok\":false,\"kind\":");
    out_json_string(kind);
    out_s(",\"error\":");
    out_json_string(message);
    if (errno_name) {
        out_s(",\"errno\":");
        out_json_string(errno_name);
    }
    out_s("}");
}

/* One request: the response is in out/out_len; returns 1 when the agent is to quit. */
static int handle(char *text, int len, unsigned long peer) {
    static jrequest req;
    const jfield *id, *op;
    result_t res;
    unsigned long hash = fnv1a(text, len);
    size_t i;
    int quitting = 0;
    if (!json_parse(text, &req)) {
        char message[96];
        snprintf(message, sizeof message, "bad request: %s", req.error);
        error_response(NULL, "agent", message, NULL);
        return 0;
    }
    id = field(&req, "id");
    op = field(&req, "op");
    if (id && (id->type == J_NUM || id->type == J_STR)) {
        char idtext[ID_MAX];
        snprintf(idtext, sizeof idtext, "%s", id->type == J_NUM ? id->num : id->str);
        for (i = 0; i < REPLAY_SLOTS; i++) {
            replay_t *r = &replays[i];
            if (r->used && r->peer == peer && r->hash == hash && strcmp(r->id, idtext) == 0) {
                memcpy(out, r->response, (size_t)r->len);
                out_len = r->len;
                return 0;  /* a duplicate: its answer again, never run twice (a quit was answered: gone) */
            }
        }
    }
    if (!id) { error_response(NULL, "agent", "bad request: a request needs an \"id\"", NULL); return 0; }
    if (!op || op->type != J_STR) { error_response(id, "agent", "bad request: a request needs an \"op\" (a string)", NULL); return 0; }
    res.kind = NULL;
    res.message[0] = 0;
    res.errno_name = NULL;
    out_len = 0;
    out_full = 0;
    out_s("{\"id\":");
    out_id(id);
    out_s(",\"ok\":true");
    for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        if (strcmp(ops[i].name, op->str) == 0) {
            if (ops[i].run(&req, &res) && !res.kind) quitting = strcmp(op->str, "quit") == 0;
            break;
        }
    }
    if (i == sizeof ops / sizeof ops[0]) {
        char message[96];
        snprintf(message, sizeof message, "bad request: unknown op '%.40s'", op->str);
        error_response(id, "agent", message, NULL);
    } else if (res.kind) {
        error_response(id, res.kind, res.message, res.errno_name);
    } else if (out_full) {
        error_response(id, "agent", "the answer does not fit the agent's response buffer", NULL);
    } else {
        out_s("}");
    }
    if (id->type == J_NUM || id->type == J_STR) {
        replay_t *r = &replays[replay_next];
        replay_next = (replay_next + 1) % REPLAY_SLOTS;
        r->used = 1;
        r->peer = peer;
        r->hash = hash;
        snprintf(r->id, sizeof r->id, "%s", id->type == J_NUM ? id->num : id->str);
        memcpy(r->response, out, (size_t)out_len);
        r->len = out_len;
    }
    return quitting;
}

int main(int argc, char **argv) {
    const char *udp = NULL;
    int i;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-u") == 0 && i + 1 < argc) udp = argv[++i];
        else {
            fprintf(stderr, "usage: %s [-u IP:PORT]   (no -u: the protocol on stdin/stdout)\n", argv[0]);
            return 2;
        }
    }
    if (port_ctl_open(udp) != 0) {
        port_log("cannot serve on udp %s: %s", udp, strerror(errno));
        return 2;
    }
    port_log("started: %s", port_describe());
    for (;;) {
        unsigned long peer = 0;
        int len = port_ctl_recv(request_buf, MAX_REQUEST + 1, &peer);
        if (len == -1) break;
        if (len == -2) {
            char message[96];
            snprintf(message, sizeof message, "bad request: longer than the agent's %d bytes", MAX_REQUEST);
            error_response(NULL, "agent", message, NULL);
            port_ctl_send(out, out_len);
            continue;
        }
        while (len > 0 && (request_buf[len - 1] == '\r' || request_buf[len - 1] == ' ' || request_buf[len - 1] == '\n'))
            request_buf[--len] = 0;
        if (*skip_ws(request_buf) == 0) continue;
        {
            int quitting = handle(request_buf, len, peer);
            port_ctl_send(out, out_len);
            if (quitting) break;
        }
    }
    reset_all();
    port_log(port_stopping ? "stopped by a signal" : "exiting");
    return 0;
}
