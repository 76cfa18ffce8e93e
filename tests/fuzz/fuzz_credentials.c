/* Credential documents (core/aws/credentials.c): the bytes are what a container (ECS/EKS) or
 * the instance-metadata endpoint answered. Accepted documents have both keys; refused ones
 * leave nothing behind. */
#include "tests/fuzz/fuzz.h"

#include "core/aws/credentials.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bsup_aws_credentials creds;
    struct bsup_diag diag = {0};
    int rc = bsup_aws_credentials_from_json((const char *)data, size, "container", &creds, &diag);
    if (rc == 0) {
        BSUP_FUZZ_CHECK(creds.access_key_id && creds.access_key_id[0]);
        BSUP_FUZZ_CHECK(creds.secret_access_key && creds.secret_access_key[0]);
        BSUP_FUZZ_CHECK(strcmp(creds.source, "container") == 0);
    } else {
        BSUP_FUZZ_CHECK(rc == BSUP_EPARSE || rc == BSUP_EAWS || rc == BSUP_ETOOBIG ||
                        rc == BSUP_ENOMEM);
        BSUP_FUZZ_CHECK(!creds.access_key_id && !creds.secret_access_key && !creds.session_token);
        BSUP_FUZZ_CHECK(strncmp(diag.message, "container credentials: ", 23) == 0 ||
                        rc == BSUP_ENOMEM);
    }
    bsup_aws_credentials_cleanup(&creds);
    return 0;
}
