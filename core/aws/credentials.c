#include "core/aws/credentials.h"

#include "core/error.h"

#include <stdlib.h>
#include <string.h>

static void s_wipe_free(char *s)
{
    if (s) {
        bsup_secure_zero(s, strlen(s));
        free(s);
    }
}

void bsup_aws_credentials_cleanup(struct bsup_aws_credentials *creds)
{
    if (!creds)
        return;
    s_wipe_free(creds->access_key_id);
    s_wipe_free(creds->secret_access_key);
    s_wipe_free(creds->session_token);
    memset(creds, 0, sizeof(*creds));
}
