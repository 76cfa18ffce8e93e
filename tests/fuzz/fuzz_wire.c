/* AWS scalar wire formats (core/aws/wire.c, the ISO 8601 reader of core/aws/credentials.c):
 * the bytes, up to the first NUL, are one scalar as a response carries it. A timestamp read
 * must print (iso8601) and read back to the same instant, and agree with the credential
 * documents' ISO 8601 reader where both accept it; base64 that decodes must encode and decode
 * back to the same bytes. */
#include "tests/fuzz/fuzz.h"

#include "core/aws/credentials.h"
#include "core/aws/wire.h"
#include "core/base/error.h"

#include <math.h>
#include <string.h>

static void s_timestamp(const char *text)
{
    double t;
    if (bsup_wire_parse_timestamp(text, &t) < 0)
        return;
    int64_t whole;
    if (isfinite(t) && bsup_aws_time_parse_iso8601(text, &whole) == 0)
        BSUP_FUZZ_CHECK(t >= (double)whole && t <= (double)whole + 1); /* .999… may round up */
    /* Years 0000-9999: ISO 8601 and strptime's %Y want four digits. */
    if (!(t >= -62167219200.0 && t < 253402300800.0))
        return;
    char buf[64];
    BSUP_FUZZ_CHECK(bsup_wire_format_timestamp(t, "iso8601", buf, sizeof(buf)) == 0);
    double back;
    BSUP_FUZZ_CHECK(bsup_wire_parse_timestamp(buf, &back) == 0);
    /* Microseconds are rounded: up to half of one off, and a hair for the double arithmetic. */
    if (fabs(back - t) > 0.6e-6 + fabs(t) * 1e-15) {
        fprintf(stderr, "timestamp %s read as %.9f printed %s read back %.9f\n", text, t, buf,
                back);
        BSUP_FUZZ_CHECK(!"a printed timestamp reads back");
    }
}

static void s_base64(const char *text)
{
    unsigned char *bytes, *again;
    size_t len, again_len;
    char *encoded;
    if (bsup_wire_base64_decode(text, &bytes, &len) < 0)
        return;
    BSUP_FUZZ_CHECK(bsup_wire_base64_encode(bytes, len, &encoded) == 0);
    BSUP_FUZZ_CHECK(bsup_wire_base64_decode(encoded, &again, &again_len) == 0);
    BSUP_FUZZ_CHECK(again_len == len && memcmp(again, bytes, len) == 0);
    free(again);
    free(encoded);
    free(bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = strndup((const char *)data, size); /* exactly as long as the scalar */
    if (!text)
        return 0;
    s_timestamp(text);
    s_base64(text);
    int64_t t;
    (void)bsup_aws_time_parse_iso8601(text, &t);
    free(text);
    return 0;
}
