/* gzip request bodies, for the operations whose model has `requestcompression` (CloudWatch's
 * PutMetricData). The body is compressed before signing, sent with Content-Encoding: gzip, and
 * its hash (of the bytes sent) goes in x-amz-content-sha256 as well: a receiver that decodes
 * before it verifies the signature still checks what was signed. Pure: buffers only. */
#ifndef BSUP_CORE_AWS_GZIP_H
#define BSUP_CORE_AWS_GZIP_H

#include "core/aws/request.h"

#include <stddef.h>

/* botocore's default request_min_compression_size_bytes: smaller bodies are sent as they are
 * (the gzip header and a round trip of CPU are not worth it under 10 KiB). */
#define BSUP_GZIP_MIN_BYTES 10240

/* Compresses req's body in place when it has at least min_bytes (0: BSUP_GZIP_MIN_BYTES) and
 * sets the two headers; leaves it alone otherwise. Call before signing. 0, BSUP_ENOMEM or
 * BSUP_ECRYPTO (the hash). */
int bsup_aws_request_gzip(struct bsup_aws_request *req, size_t min_bytes);

#endif
