/* bsupd --check-config: load the drop-ins, print every service with its resolved values
 * (secrets redacted) and every message. */
#ifndef BSUP_DAEMON_CHECK_CONFIG_H
#define BSUP_DAEMON_CHECK_CONFIG_H

#include <stdio.h>

#include "core/config/config.h"

/* Prints one service as an aligned key/value block; daemon-wide values fill the unset ones. */
void bsup_print_service(FILE *out, const struct bsup_service *svc,
                        const struct bsup_settings *settings);
/* Prints every message of a load to out, one per line, with its severity. */
void bsup_print_config_messages(FILE *out, const struct bsup_config_set *set);
/* Returns the exit code: 0 valid, 1 invalid. */
int bsup_check_config(const struct bsup_settings *settings, FILE *out, FILE *err);

#endif
