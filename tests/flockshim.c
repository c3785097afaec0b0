/* Test plumbing: LD_PRELOAD shim that makes flock(2) behave like a filesystem whose locks are
 * node-local (Lustre mounted with localflock, NFS with nolock) or missing (ENOSYS).
 *
 *   KSI_TEST_FLOCK=nodelocal  flock(fd) locks a shadow file instead, one per (st_dev, st_ino)
 *                             under $KSI_TEST_FLOCK_DIR/<hostname>/: exclusive among the
 *                             processes of one host (UTS name), not across hosts.
 *   KSI_TEST_FLOCK=enosys     flock fails with ENOSYS, as on a filesystem without lock support.
 *
 *   KSI_TEST_FLOCK_PREFIX     only files whose path starts with it (the "shared filesystem");
 *                             every other flock is the real one.
 *
 * Built by tests/flockshim.py with gcc.  Never used outside the tests.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FD 4096
static int shadow[MAX_FD]; /* fd -> shadow fd + 1 (0: none) */

static int (*real_flock)(int, int);

int flock(int fd, int operation) {
    if (!real_flock)
        real_flock = (int (*)(int, int))dlsym(RTLD_NEXT, "flock");
    const char *mode = getenv("KSI_TEST_FLOCK");
    if (!mode || fd < 0 || fd >= MAX_FD)
        return real_flock(fd, operation);
    const char *prefix = getenv("KSI_TEST_FLOCK_PREFIX");
    if (prefix && !shadow[fd]) {
        char link[64], target[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n < 0)
            return real_flock(fd, operation);
        target[n] = 0;
        if (strncmp(target, prefix, strlen(prefix)) != 0)
            return real_flock(fd, operation);
    }
    if (strcmp(mode, "enosys") == 0) {
        errno = ENOSYS;
        return -1;
    }
    if (strcmp(mode, "nodelocal") != 0)
        return real_flock(fd, operation);
    if (!shadow[fd]) {
        struct stat st;
        char host[256], path[PATH_MAX];
        const char *dir = getenv("KSI_TEST_FLOCK_DIR");
        if (!dir || fstat(fd, &st) != 0 || gethostname(host, sizeof host) != 0)
            return real_flock(fd, operation);
        host[sizeof host - 1] = 0;
        snprintf(path, sizeof path, "%s/%s", dir, host);
        mkdir(path, 0700);
        snprintf(path, sizeof path, "%s/%s/%llu-%llu", dir, host,
                 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
        int sfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (sfd < 0)
            return real_flock(fd, operation);
        shadow[fd] = sfd + 1;
    }
    int sfd = shadow[fd] - 1;
    int rc = real_flock(sfd, operation);
    if ((operation & LOCK_UN) && rc == 0) {
        close(sfd);
        shadow[fd] = 0;
    }
    return rc;
}
