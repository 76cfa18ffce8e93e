"""moto_server, with two fixes. First, a gzip request body (Content-Encoding: gzip, as the SDKs send
CloudWatch PutMetricData over 10 KiB) is decoded once, not twice.

moto 5.x's server decodes such a body in its Flask before_request hook
(moto/moto_server/utilities.py, decompress_request_body: the stream becomes a GzipFile), and
then BaseResponse.setup_class (moto/core/responses.py) sees the Content-Encoding header still
there and decodes the already plain body again: gzip.BadGzipFile, HTTP 500. Every SDK request
compressed this way fails against moto_server (moto's in-process decorator path decodes once,
in normalize_request, and is fine). Here setup_class is told the server has already decoded
it. Nothing else changes; the signature is still verified (moto takes the payload hash from
x-amz-content-sha256 when the client signs one, as bsupd does for a compressed body).

Second, STS AssumeRoleWithWebIdentity and AssumeRoleWithSAML are unsigned, as AWS has them (the
token or assertion is the caller's proof; the SDKs send them without a signature): moto's
server asks every call for a signature once auth is enforced, and refused them. Every other
call is still verified."""
import sys

from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.responses import BaseResponse
from moto.server import main

_setup_class = BaseResponse.setup_class


def _setup_class_decoded_once(self, request, full_url, headers, *args, **kwargs):
    if "werkzeug" in str(type(request)) and getattr(request, "content_encoding", None) == "gzip":
        self.allow_request_decompression = False  # before_request decoded the stream already
    return _setup_class(self, request, full_url, headers, *args, **kwargs)


BaseResponse.setup_class = _setup_class_decoded_once

_authorize = ActionAuthenticatorMixin._authenticate_and_authorize_action
_UNSIGNED_STS = {"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"}


def _authorize_as_aws(self, iam_request_cls, resource="*"):
    if getattr(self, "service_name", None) == "sts" and self._get_action() in _UNSIGNED_STS:
        return None
    return _authorize(self, iam_request_cls, resource)


ActionAuthenticatorMixin._authenticate_and_authorize_action = _authorize_as_aws

if __name__ == "__main__":
    sys.exit(main())
