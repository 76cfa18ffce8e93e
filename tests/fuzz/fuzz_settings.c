/* Daemon settings (bsupd.yaml, core/config): the bytes are the file. There is no buffer-level
 * entry point, so the input goes into a memfd that bsup_settings_load reads as
 * /proc/self/fd/N: the file loader's own path (size checks included), without the disk. */
#include "tests/fuzz/fuzz.h"

#include "core/config/config.h"

#include <sys/mman.h>
#include <unistd.h>

static int s_fd = -1;
static char s_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    s_fd = memfd_create("bsupd.yaml", MFD_CLOEXEC);
    if (s_fd < 0) {
        perror("memfd_create");
        abort();
    }
    snprintf(s_path, sizeof(s_path), "/proc/self/fd/%d", s_fd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    BSUP_FUZZ_CHECK(ftruncate(s_fd, 0) == 0);
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(s_fd, data + done, size - done, (off_t)done);
        BSUP_FUZZ_CHECK(n > 0);
        done += (size_t)n;
    }
    struct bsup_settings s;
    struct bsup_diag diag = {0};
    bsup_settings_init(&s);
    int rc = bsup_settings_load(&s, s_path, false, &diag);
    /* Accepted, or refused with a message; never anything else (ENOMEM aside). */
    BSUP_FUZZ_CHECK(rc == 0 || rc == BSUP_ECONFIG || rc == BSUP_ETOOBIG || rc == BSUP_ENOMEM);
    if (rc == BSUP_ECONFIG)
        BSUP_FUZZ_CHECK(diag.message[0] != '\0');
    if (rc == 0)
        BSUP_FUZZ_CHECK(s.mode != BSUP_MODE_DEFAULT);
    bsup_settings_cleanup(&s);
    return 0;
}
