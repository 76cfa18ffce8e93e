/* Lookups over bsupd's operation table and the golden-test one. */
#include "tests/lib/model_test.h"

#include <strings.h>

static const struct bsup_aws_operation *s_find(const struct bsup_aws_operation *ops, size_t n,
                                               const struct bsup_aws_service *svc,
                                               const char *action)
{
    for (size_t i = 0; i < n; i++)
        if (bsup_aws_operation_service(&ops[i]) == svc && strcasecmp(ops[i].action, action) == 0)
            return &ops[i];
    return NULL;
}

const struct bsup_aws_operation *bsup_test_aws_operation_find(const char *service,
                                                              const char *action)
{
    const struct bsup_aws_service *svc = bsup_aws_service_find(service);
    if (!svc || !action)
        return NULL;
    const struct bsup_aws_operation *op =
        s_find(bsup_aws_operations, bsup_aws_n_operations, svc, action);
    return op ? op : s_find(bsup_test_aws_operations, bsup_test_aws_n_operations, svc, action);
}
