/* The state directory belongs to one bsupd at a time: an exclusive flock on bsup.lock, held
 * for as long as the store is open (the kernel drops it when the process dies). */
#include "store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Who holds the flock on fd's file, in words, into buf: "another bsupd (pid N)", "another
 * process, COMM (pid N)", or "another process (pid unknown)". The kernel's /proc/locks names
 * the process that took the lock; one that has exited since (a child of it may hold the lock
 * now) or one this pid namespace cannot see is unknown. */
static void s_holder(int fd, char *buf, size_t len)
{
    struct stat st;
    char want[64], line[256], comm[64] = "";
    long pid = 0;
    snprintf(buf, len, "another process (pid unknown)");
    FILE *f = fstat(fd, &st) == 0 ? fopen("/proc/locks", "re") : NULL;
    if (!f)
        return;
    snprintf(want, sizeof(want), "%02x:%02x:%llu", major(st.st_dev), minor(st.st_dev),
             (unsigned long long)st.st_ino);
    while (pid <= 0 && fgets(line, sizeof(line), f)) {
        char kind[16], dev[64];
        long p;
        /* "1: FLOCK  ADVISORY  WRITE 1234 fe:00:5678 0 EOF"; a waiter's line has "->". */
        if (sscanf(line, "%*d: %15s %*s %*s %ld %63s", kind, &p, dev) == 3 &&
            strcmp(kind, "FLOCK") == 0 && strcmp(dev, want) == 0)
            pid = p;
    }
    fclose(f);
    snprintf(line, sizeof(line), "/proc/%ld/comm", pid);
    f = pid > 0 ? fopen(line, "re") : NULL;
    if (f && fgets(comm, sizeof(comm), f))
        comm[strcspn(comm, "\n")] = 0;
    if (f)
        fclose(f);
    if (strcmp(comm, "bsupd") == 0)
        snprintf(buf, len, "another bsupd (pid %ld)", pid);
    else if (comm[0])
        snprintf(buf, len, "another process, %s (pid %ld)", comm, pid);
}

int bsup_store_lock(const char *state_dir, int *out_fd, struct bsup_diag *diag)
{
    char path[4096], holder[128];
    *out_fd = -1;
    if (snprintf(path, sizeof(path), "%s/%s", state_dir, BSUP_STORE_LOCK_FILE) >= (int)sizeof(path))
        return bsup_diag_set(diag, BSUP_EINVAL, "state directory %s: path too long", state_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0)
        return bsup_diag_set(diag, errno == EROFS ? BSUP_EREADONLY : BSUP_EPERM,
                             "state directory lock %s cannot be opened: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        if (err == EWOULDBLOCK)
            s_holder(fd, holder, sizeof(holder));
        close(fd);
        if (err == EWOULDBLOCK)
            return bsup_diag_set(diag, BSUP_EBUSY,
                                 "state directory %s is in use by %s; one bsupd per state "
                                 "directory, --once included",
                                 state_dir, holder);
        return bsup_diag_set(diag, BSUP_EIO, "state directory lock %s: %s", path, strerror(err));
    }
    *out_fd = fd;
    return 0;
}
