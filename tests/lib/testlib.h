/* Helpers shared by the unit tests. Include after <setjmp.h> etc. via this header only. */
#ifndef BSUP_TESTS_TESTLIB_H
#define BSUP_TESTS_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* A fresh directory under $TMPDIR; removed with everything in it by bsup_test_rmtree. */
char *bsup_test_mkdtemp(void);
void bsup_test_rmtree(const char *path);
/* Writes a file dir/name with the given contents (len -1: strlen). Returns the full path. */
char *bsup_test_write(const char *dir, const char *name, const char *data, long len);
/* Reads a whole file; NULL if it cannot. */
char *bsup_test_read(const char *path, size_t *out_len);

/* The one service of a drop-in held in memory (a deep copy: bsup_service_cleanup it), or the
 * test fails with the loader's first message. */
struct bsup_service;
struct bsup_service bsup_test_service(const char *yaml);

/* A JSON file, or the test fails naming the file, line and problem. */
struct json_t;
struct json_t *bsup_test_load_json(const char *path);
/* A getenv-like lookup in a JSON object of strings (ctx), for injected environments. */
const char *bsup_test_json_getenv(void *ctx, const char *name);

#endif
