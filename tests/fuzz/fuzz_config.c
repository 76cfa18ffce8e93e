/* Drop-ins (core/config): the bytes are one drop-in, loaded twice as two files of a directory
 * (the second sees every name of the first as a duplicate). Each service a good file gives
 * must survive the store's JSON round trip unchanged and hash, its JSON exactly what jansson
 * writes of it. */
#include "tests/fuzz/fuzz.h"

#include "core/config/config.h"

#include <jansson.h>
#include <string.h>

static void s_round_trip(const struct bsup_service *svc)
{
    char *json = bsup_service_to_json(svc);
    BSUP_FUZZ_CHECK(json != NULL);
    json_t *obj = json_loads(json, 0, NULL);
    BSUP_FUZZ_CHECK(obj != NULL);
    char *canonical = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    BSUP_FUZZ_CHECK(canonical != NULL && strcmp(canonical, json) == 0);
    free(canonical);
    json_decref(obj);
    struct bsup_service back;
    BSUP_FUZZ_CHECK(bsup_service_from_json(json, &back) == 0);
    char *again = bsup_service_to_json(&back);
    BSUP_FUZZ_CHECK(again != NULL);
    BSUP_FUZZ_CHECK(strcmp(json, again) == 0);
    char hex[65];
    BSUP_FUZZ_CHECK(bsup_service_json_hash(json, hex) == 0);
    free(again);
    free(json);
    bsup_service_cleanup(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bsup_config_set set;
    bsup_config_set_init(&set);
    int rc = bsup_config_parse_buffer(&set, "10-fuzz.yaml", (const char *)data, size);
    BSUP_FUZZ_CHECK(rc == 0);
    size_t first = set.n_services;
    rc = bsup_config_parse_buffer(&set, "20-again.yaml", (const char *)data, size);
    BSUP_FUZZ_CHECK(rc == 0);
    /* The same text twice: the second file declares only names the first already has. */
    BSUP_FUZZ_CHECK(set.n_services == first);
    BSUP_FUZZ_CHECK(set.n_files == 2);
    BSUP_FUZZ_CHECK(first == 0 || (set.files[0].ok && !set.files[1].ok));
    for (size_t i = 0; i < set.n_services; i++)
        s_round_trip(set.services[i]);
    for (size_t i = 0; i < set.n_msgs; i++)
        BSUP_FUZZ_CHECK(set.msgs[i].text && set.msgs[i].text[0]);
    bsup_config_set_cleanup(&set);
    return 0;
}
