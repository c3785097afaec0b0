/* The cheap mode's client in C: forkclient.py's protocol without a Python start (~1 ms of CPU
 * instead of ~20-30 ms per call).  The bench builds it (forkserver.build_client) and the shims
 * run it when both KSI_FAKE_FORKCLIENT (this binary) and KSI_FAKE_FORKSERVER (the bench's
 * server) are set:  forkclient <tool> [args...]
 *
 * Sends "ksi-fork-1\0tool\0host\0cwd\0umask\0fds\0argc\0argv...\0env...\0" (length-prefixed,
 * fds 0-2 as SCM_RIGHTS), forwards SIGTERM/INT/HUP/QUIT/USR1/USR2 as "sig N\n", and exits with
 * the tool's code or dies of its signal.  Without a server it runs the double the normal way. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;
static int sock = -1;
static char *buf;
static size_t len, cap;

static void put(const char *s, size_t n) {
    if (len + n + 1 > cap) {
        cap = (len + n + 1) * 2;
        buf = realloc(buf, cap);
        if (!buf) _exit(70);
    }
    memcpy(buf + len, s, n);
    len += n;
    buf[len++] = '\0';
}

static void puts0(const char *s) { put(s, strlen(s)); }

static void normal(char **argv) {  /* python3 -P -m tests.fakeworld.<module> args (PYTHONPATH: the shim's) */
    const char *tool = argv[1];
    char module[64];
    snprintf(module, sizeof module, "tests.fakeworld.%s", strcmp(tool, "systemd-run") ? tool : "systemd_run");
    int argc = 0;
    while (argv[argc]) argc++;
    char **args = calloc(argc + 4, sizeof *args);
    args[0] = "python3"; args[1] = "-P"; args[2] = "-m"; args[3] = module;
    for (int i = 2; i < argc; i++) args[i + 2] = argv[i];
    execvp("python3", args);
    perror("python3");
    _exit(127);
}

static void forward(int sig) {
    char msg[16];
    int n = snprintf(msg, sizeof msg, "sig %d\n", sig);
    int saved = errno;
    if (write(sock, msg, n) < 0) { /* the server is gone: its answer will say so */ }
    errno = saved;
}

int main(int argc, char **argv) {
    if (argc < 2) return 64;
    const char *path = getenv("KSI_FAKE_FORKSERVER");
    char cwd[4096], host[256], num[32];
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (!path || strlen(path) >= sizeof addr.sun_path || !getcwd(cwd, sizeof cwd) || gethostname(host, sizeof host))
        normal(argv);
    strcpy(addr.sun_path, path);
    sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0) normal(argv);

    mode_t mask = umask(0);
    umask(mask);
    int fds[3], nfds = 0;
    char fdlist[8] = "";
    struct stat st;
    for (int fd = 0; fd < 3; fd++)
        if (fstat(fd, &st) == 0) {
            fds[nfds++] = fd;
            char one[4];
            snprintf(one, sizeof one, "%s%d", nfds > 1 ? "," : "", fd);
            strcat(fdlist, one);
        }
    len = 4;  /* room for the length */
    cap = 65536;
    buf = malloc(cap);
    puts0("ksi-fork-1");
    puts0(argv[1]);
    puts0(host);
    puts0(cwd);
    snprintf(num, sizeof num, "%u", (unsigned)mask);
    puts0(num);
    puts0(fdlist);
    snprintf(num, sizeof num, "%d", argc - 2);
    puts0(num);
    for (int i = 2; i < argc; i++) puts0(argv[i]);
    for (char **e = environ; *e; e++) puts0(*e);
    uint32_t body = (uint32_t)(len - 4);
    buf[0] = body >> 24; buf[1] = body >> 16; buf[2] = body >> 8; buf[3] = body;

    struct sigaction sa = {.sa_handler = forward};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) sigaction(sigs[i], &sa, NULL);

    char control[CMSG_SPACE(sizeof fds)];
    memset(control, 0, sizeof control);
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    ssize_t sent = sendmsg(sock, &msg, 0);  /* the descriptors go with the first bytes */
    if (sent < 0) normal(argv);
    while ((size_t)sent < len) {
        ssize_t n = write(sock, buf + sent, len - sent);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { fprintf(stderr, "%s: the fake world's fork server went away\n", argv[1]); return 70; }
        sent += n;
    }

    char answer[64];
    size_t got = 0;
    while (got < sizeof answer - 1 && (got == 0 || answer[got - 1] != '\n')) {
        ssize_t n = read(sock, answer + got, sizeof answer - 1 - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { fprintf(stderr, "%s: the fake world's fork server went away\n", argv[1]); return 70; }
        got += n;
    }
    answer[got] = '\0';
    int value = atoi(strchr(answer, ' ') ? strchr(answer, ' ') + 1 : "70");
    if (strncmp(answer, "signal ", 7) == 0) {
        signal(value, SIG_DFL);
        kill(getpid(), value);
        return 128 + value;
    }
    return value;
}
