/* The state directory belongs to one bsupd at a time: an exclusive flock on bsup.lock, held
 * for as long as the store is open (the kernel drops it when the process dies). */
#include "store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int bsup_store_lock(const char *state_dir, int *out_fd, struct bsup_diag *diag)
{
    char path[4096], pid[32] = "";
    *out_fd = -1;
    if (snprintf(path, sizeof(path), "%s/%s", state_dir, BSUP_STORE_LOCK_FILE) >= (int)sizeof(path))
        return bsup_diag_set(diag, BSUP_EINVAL, "state directory %s: path too long", state_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0)
        return bsup_diag_set(diag, errno == EROFS ? BSUP_EREADONLY : BSUP_EPERM,
                             "state directory lock %s cannot be opened: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        close(fd);
        if (err == EWOULDBLOCK)
            return bsup_diag_set(diag, BSUP_EBUSY,
                                 "state directory %s is in use by another bsupd (pid %s); one "
                                 "bsupd per state directory, --once included",
                                 state_dir, pid[0] ? pid : "?");
        return bsup_diag_set(diag, BSUP_EIO, "state directory lock %s: %s", path, strerror(err));
    }
    /* Who holds it, for the next one's message. */
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        /* The lock holds without the pid; only the message would lack it. */
    }
    *out_fd = fd;
    return 0;
}
