/* bsup error codes: functions return 0 or a negative BSUP_E* code.
 * The table below is the only list; names and messages are generated from it. */
#ifndef BSUP_CORE_BASE_ERROR_H
#define BSUP_CORE_BASE_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#define BSUP_ERRNO_MAP(XX)                                                                         \
    XX(NOMEM, "out of memory")                                                                     \
    XX(INVAL, "invalid argument")                                                                  \
    XX(IO, "input/output error")                                                                   \
    XX(NOTFOUND, "not found")                                                                      \
    XX(EXISTS, "already exists")                                                                   \
    XX(PERM, "permission denied")                                                                  \
    XX(TOOBIG, "too large")                                                                        \
    XX(PARSE, "cannot parse")                                                                      \
    XX(CONFIG, "invalid configuration")                                                            \
    XX(STORE, "state database error")                                                              \
    XX(CORRUPT, "state database is corrupt")                                                       \
    XX(FULL, "no space left")                                                                      \
    XX(READONLY, "read-only")                                                                      \
    XX(PROTO, "protocol error")                                                                    \
    XX(CRYPTO, "cryptography error")                                                               \
    XX(TIMEDOUT, "timed out")                                                                      \
    XX(CANCELED, "canceled")                                                                       \
    XX(AGAIN, "try again")                                                                         \
    XX(CONNECT, "cannot connect")                                                                  \
    XX(AWS, "AWS returned an error")                                                               \
    XX(CREDENTIALS, "no AWS credentials")                                                          \
    XX(THROTTLED, "throttled")                                                                     \
    XX(BUSY, "busy")                                                                               \
    XX(SHUTDOWN, "shutting down")

enum bsup_errno {
    BSUP_EOK = 0,
#define BSUP_ERR_ENUM(name, msg) BSUP_E_##name##_,
    BSUP_ERR_FIRST_ = -1000,
    BSUP_ERRNO_MAP(BSUP_ERR_ENUM)
#undef BSUP_ERR_ENUM
};

/* BSUP_ENOMEM etc.: negative values. */
#define BSUP_ERR_VALUE(name) (-(BSUP_E_##name##_ - BSUP_ERR_FIRST_))
#define BSUP_ENOMEM BSUP_ERR_VALUE(NOMEM)
#define BSUP_EINVAL BSUP_ERR_VALUE(INVAL)
#define BSUP_EIO BSUP_ERR_VALUE(IO)
#define BSUP_ENOTFOUND BSUP_ERR_VALUE(NOTFOUND)
#define BSUP_EEXISTS BSUP_ERR_VALUE(EXISTS)
#define BSUP_EPERM BSUP_ERR_VALUE(PERM)
#define BSUP_ETOOBIG BSUP_ERR_VALUE(TOOBIG)
#define BSUP_EPARSE BSUP_ERR_VALUE(PARSE)
#define BSUP_ECONFIG BSUP_ERR_VALUE(CONFIG)
#define BSUP_ESTORE BSUP_ERR_VALUE(STORE)
#define BSUP_ECORRUPT BSUP_ERR_VALUE(CORRUPT)
#define BSUP_EFULL BSUP_ERR_VALUE(FULL)
#define BSUP_EREADONLY BSUP_ERR_VALUE(READONLY)
#define BSUP_EPROTO BSUP_ERR_VALUE(PROTO)
#define BSUP_ECRYPTO BSUP_ERR_VALUE(CRYPTO)
#define BSUP_ETIMEDOUT BSUP_ERR_VALUE(TIMEDOUT)
#define BSUP_ECANCELED BSUP_ERR_VALUE(CANCELED)
#define BSUP_EAGAIN BSUP_ERR_VALUE(AGAIN)
#define BSUP_ECONNECT BSUP_ERR_VALUE(CONNECT)
#define BSUP_EAWS BSUP_ERR_VALUE(AWS)
#define BSUP_ECREDENTIALS BSUP_ERR_VALUE(CREDENTIALS)
#define BSUP_ETHROTTLED BSUP_ERR_VALUE(THROTTLED)
#define BSUP_EBUSY BSUP_ERR_VALUE(BUSY)
#define BSUP_ESHUTDOWN BSUP_ERR_VALUE(SHUTDOWN)

/* "BSUP_ENOMEM" for BSUP_ENOMEM; "BSUP_E?" for values outside the table. */
const char *bsup_err_name(int err);
/* "out of memory" for BSUP_ENOMEM; "unknown error" outside the table. */
const char *bsup_strerror(int err);

/* What an operator must read about a failure: the caller owns it and passes it in.
 * Messages are complete sentences such as "10-api.yaml:7:13: max_size (1) is ..." */
struct bsup_diag {
    int code;
    char message[1024];
};

/* Sets code and message (printf format); returns code so callers can `return bsup_diag_set(...)`.
 * A NULL diag is allowed and ignored. */
int bsup_diag_set(struct bsup_diag *diag, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int bsup_diag_vset(struct bsup_diag *diag, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Overwrites len bytes at p in a way the compiler does not optimise away. */
void bsup_secure_zero(void *p, size_t len);

#endif
