#!/usr/bin/env python3
"""Fault-injecting HTTP proxy between an AWS client and moto_server.

Standard library only.  Forwards every request byte-for-byte (headers in
order, Host preserved, so SigV4 still verifies upstream), counts requests per
service and action, keeps a request log, and injects faults chosen by JSON
rules.  Control API under /__faults/ on the same port (see README.md).

Determinism: a probabilistic rule decides its n-th matching request from
hash(seed, rule index, n), so the outcome does not depend on how requests of
other rules or services interleave.
"""

import argparse
import email.utils
import fnmatch
import gzip
import hashlib
import http.client
import http.server
import json
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
import uuid

CONTROL_PREFIX = "/__faults"
LOG_CAP = 200000          # request log entries kept (oldest dropped first)
BODY_CAP = 64 << 20       # largest request body accepted from a client
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
              "transfer-encoding", "upgrade"}
FAULTS = {"latency", "throttle", "status", "reset", "truncate", "stall", "skew", "rewrite"}

_CRED_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_CBOR_OP_RE = re.compile(r"/service/[^/]+/operation/([A-Za-z0-9]+)")


# ---------------------------------------------------------------- protocol

def request_protocol(service, headers):
    """Wire protocol of a request: 'cbor', 'json', 'ec2' or 'query'."""
    if headers.get("smithy-protocol", "").lower() == "rpc-v2-cbor":
        return "cbor"
    if headers.get("x-amz-target"):
        return "json"
    if service == "ec2":
        return "ec2"
    return "query"


def request_action(path, headers, body):
    """Operation name from X-Amz-Target, the rpc-v2-cbor path, or Action=."""
    target = headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    m = _CBOR_OP_RE.search(path)
    if m:
        return m.group(1)
    query = urllib.parse.urlsplit(path).query
    for src in (query, body.decode("latin-1") if body else ""):
        if "Action=" in src:
            vals = urllib.parse.parse_qs(src).get("Action")
            if vals:
                return vals[0]
    return "-"


def _cbor_head(major, n):
    if n < 24:
        return bytes([(major << 5) | n])
    if n < 256:
        return bytes([(major << 5) | 24, n])
    if n < 65536:
        return bytes([(major << 5) | 25]) + struct.pack(">H", n)
    return bytes([(major << 5) | 26]) + struct.pack(">I", n)


def cbor_text_map(d):
    """CBOR encoding of a map of text strings (all rpc-v2-cbor errors need)."""
    out = bytearray(_cbor_head(5, len(d)))
    for k, v in d.items():
        for s in (k, v):
            b = s.encode()
            out += _cbor_head(3, len(b)) + b
    return bytes(out)


# Default error code, HTTP status and fault type per (fault, protocol).
# Throttling codes follow botocore data/_retry.json and the service models:
# Query services answer 400 Throttling, EC2 503 RequestLimitExceeded, JSON
# services 400 ThrottlingException, SQS (JSON, query-compatible) 403
# RequestThrottled.
ERROR_DEFAULTS = {
    ("throttle", "query"): ("Throttling", 400, "Sender", "Rate exceeded"),
    ("throttle", "ec2"): ("RequestLimitExceeded", 503, "Sender", "Request limit exceeded."),
    ("throttle", "json"): ("ThrottlingException", 400, "Sender", "Rate exceeded"),
    ("throttle", "cbor"): ("Throttling", 400, "Sender", "Rate exceeded"),
    ("skew", "query"): ("SignatureDoesNotMatch", 403, "Sender", None),
    ("skew", "ec2"): ("RequestExpired", 400, "Sender", None),
    ("skew", "json"): ("InvalidSignatureException", 400, "Sender", None),
    ("skew", "cbor"): ("SignatureDoesNotMatch", 403, "Sender", None),
}
STATUS_CODES = {
    # status: (query/cbor code, ec2 code, json code, message)
    500: ("InternalFailure", "InternalError", "InternalFailure",
          "The request processing has failed because of an unknown error, exception or failure."),
    502: ("BadGateway", "Unavailable", "BadGateway", "Bad gateway."),
    503: ("ServiceUnavailable", "Unavailable", "ServiceUnavailableException",
          "The service is unavailable. Please try again later."),
    504: ("GatewayTimeout", "Unavailable", "GatewayTimeout", "Gateway timeout."),
}


# JSON / rpc-v2-cbor services that used to speak Query ("awsQueryCompatible"):
# their errors keep the Query code and say so in x-amzn-query-error.
QUERY_COMPATIBLE = {"monitoring": "com.amazonaws.cloudwatch", "sqs": "com.amazonaws.sqs"}


def error_response(service, proto, code, status, etype, message):
    """(status, headers, body) of an AWS error exactly as `proto` sends it."""
    rid = str(uuid.uuid4())
    qc = QUERY_COMPATIBLE.get(service)
    if proto == "ec2":
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                f"<Code>{_xml(code)}</Code><Message>{_xml(message)}</Message>"
                f"</Error></Errors><RequestID>{rid}</RequestID></Response>").encode()
        headers = [("Content-Type", "text/xml;charset=UTF-8")]
    elif proto == "json":
        jtype = f"{qc}#{code}" if qc else code
        body = json.dumps({"__type": jtype, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.0" if qc else
                    "application/x-amz-json-1.1"),
                   ("x-amzn-RequestId", rid)]
        if qc:
            headers.append(("x-amzn-query-error", f"{code};{etype}"))
    elif proto == "cbor":
        body = cbor_text_map({"__type": f"{qc}#{code}" if qc else code,
                              "message": message})
        headers = [("Content-Type", "application/cbor"),
                   ("smithy-protocol", "rpc-v2-cbor"),
                   ("x-amzn-RequestId", rid),
                   ("x-amzn-query-error", f"{code};{etype}")]
    else:
        body = ("<ErrorResponse><Error>"
                f"<Type>{etype}</Type><Code>{_xml(code)}</Code>"
                f"<Message>{_xml(message)}</Message></Error>"
                f"<RequestId>{rid}</RequestId></ErrorResponse>").encode()
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)]
    headers.append(("Date", email.utils.formatdate(usegmt=True)))
    return status, headers, body


def _xml(s):
    return (str(s).replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def skew_message(proto, amz_date):
    if proto == "ec2":
        return "Request has expired."
    now = time.gmtime()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", now)
    earlier = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 900))
    return (f"Signature expired: {amz_date or '19700101T000000Z'} is now earlier "
            f"than {earlier} ({stamp} - 15 min.)")


# ------------------------------------------------------------------- state

class Rule:
    def __init__(self, index, spec):
        if not isinstance(spec, dict):
            raise ValueError(f"rule {index}: must be an object")
        self.index = index
        self.spec = spec
        self.fault = spec.get("fault")
        if self.fault not in FAULTS:
            raise ValueError(f"rule {index}: fault must be one of {sorted(FAULTS)}")
        self.service = spec.get("service", "*")
        act = spec.get("action", "*")
        self.actions = set(act) if isinstance(act, list) else {act}
        self.action_globs = [a for a in self.actions if "*" in a and a != "*"]
        # "bucket": AWS's token bucket (burst, refill per second): the fault fires only
        # when the bucket is empty, the way AWS throttles an account's calls.
        self.bucket = spec.get("bucket")
        if self.bucket is not None:
            if (not isinstance(self.bucket, dict) or float(self.bucket.get("burst", 0)) < 1 or
                    float(self.bucket.get("rate", 0)) <= 0):
                raise ValueError(f'rule {index}: bucket needs "burst" >= 1 and "rate" > 0')
            self.tokens = float(self.bucket["burst"])
            self.refilled_at = time.monotonic()
        self.contains = spec.get("request_contains")  # substring of the decoded request
        if self.fault == "rewrite":
            rep = spec.get("replace")
            if (not isinstance(rep, list) or not rep or
                    not all(isinstance(x, list) and len(x) == 2 for x in rep)):
                raise ValueError(f'rule {index}: rewrite needs "replace": [["from", "to"], ...]')
        self.count = spec.get("count")          # None = unlimited
        self.probability = spec.get("probability")
        if self.count is not None and (not isinstance(self.count, int) or self.count < 0):
            raise ValueError(f"rule {index}: count must be an integer >= 0")
        if self.probability is not None and not 0 <= float(self.probability) <= 1:
            raise ValueError(f"rule {index}: probability must be within 0..1")
        if self.fault == "status" and int(spec.get("status", 500)) < 400:
            raise ValueError(f"rule {index}: status must be >= 400")
        self.matched = 0   # requests that matched service/action
        self.applied = 0   # times the fault was applied

    def matches(self, service, action, request_text):
        return ((self.service in ("*", service)) and
                ("*" in self.actions or action in self.actions or
                 any(fnmatch.fnmatchcase(action, g) for g in self.action_globs)) and
                (not self.contains or self.contains in request_text))

    def take_token(self):
        """True when the bucket had a token for this request (no fault)."""
        now = time.monotonic()
        self.tokens = min(float(self.bucket["burst"]),
                          self.tokens + (now - self.refilled_at) * float(self.bucket["rate"]))
        self.refilled_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def decide(self, seed):
        """Called under the state lock for a matching request."""
        n = self.matched
        self.matched += 1
        if self.bucket is not None and self.take_token():
            return False
        if self.count is not None and self.applied >= self.count:
            return False
        if self.probability is not None:
            h = hashlib.sha256(f"{seed}:{self.index}:{n}".encode()).digest()
            if int.from_bytes(h[:8], "big") / 2.0 ** 64 >= float(self.probability):
                return False
        self.applied += 1
        return True

    def report(self):
        return dict(self.spec, matched=self.matched, applied=self.applied)


class State:
    def __init__(self, seed):
        self.lock = threading.Lock()
        self.seed = seed
        self.rules = []
        self.reset_counts()

    def reset_counts(self):
        self.epoch = getattr(self, "epoch", 0) + 1  # requests admitted before a reset stay out
        self.counts = {}
        self.faulted = {}
        self.total = 0
        self.bytes = {"in": 0, "out": 0, "services": {}}
        self.log = []
        self.log_dropped = 0

    def set_rules(self, doc):
        if isinstance(doc, list):
            doc = {"rules": doc}
        if not isinstance(doc, dict) or not isinstance(doc.get("rules", []), list):
            raise ValueError('expected {"seed": N, "rules": [...]} or a list of rules')
        rules = [Rule(i, r) for i, r in enumerate(doc.get("rules", []))]
        with self.lock:
            if "seed" in doc:
                self.seed = doc["seed"]
            self.rules = rules

    def admit(self, service, action, entry, request_text=""):
        """Counts and logs a request; returns (delay_s, terminal rule or None).
        The log entry is appended now (log order = arrival order) and
        completed by finish() when the answer has gone out."""
        delay = 0.0
        chosen = None
        with self.lock:
            self.total += 1
            self.log.append(entry)
            if len(self.log) > LOG_CAP:
                drop = len(self.log) - LOG_CAP
                del self.log[:drop]
                self.log_dropped += drop
            per = self.counts.setdefault(service, {})
            per[action] = per.get(action, 0) + 1
            for r in self.rules:
                if not r.matches(service, action, request_text):
                    continue
                if r.fault == "latency":
                    if r.decide(self.seed):
                        delay += r.spec.get("latency_ms", 0) / 1000.0
                        jit = r.spec.get("jitter_ms", 0)
                        if jit:
                            h = hashlib.sha256(f"{self.seed}:{r.index}:j{r.matched}".encode()).digest()
                            delay += jit / 1000.0 * int.from_bytes(h[:8], "big") / 2.0 ** 64
                elif chosen is None and r.decide(self.seed):
                    chosen = r
            if chosen is not None:
                key = f"{service}:{action}:{chosen.fault}"
                self.faulted[key] = self.faulted.get(key, 0) + 1
                entry["fault"] = chosen.fault
            entry["_epoch"] = self.epoch
        return delay, chosen

    def finish(self, entry, t0, status, bytes_in=0, bytes_out=0):
        with self.lock:
            entry["status"] = status
            entry["ms"] = round((time.time() - t0) * 1000, 1)
            entry["bytes_in"], entry["bytes_out"] = bytes_in, bytes_out
            if entry.pop("_epoch", None) != self.epoch:
                return  # answered after a reset of the counts: not this window's bytes
            self.bytes["in"] += bytes_in
            self.bytes["out"] += bytes_out
            per = self.bytes["services"].setdefault(entry["service"], {}).setdefault(
                entry["action"], {"in": 0, "out": 0})
            per["in"] += bytes_in
            per["out"] += bytes_out

    def snapshot_counts(self):
        with self.lock:
            return {"total": self.total,
                    "services": json.loads(json.dumps(self.counts)),
                    "faults": dict(self.faulted),
                    "bytes": json.loads(json.dumps(self.bytes))}


# ----------------------------------------------------------------- handler

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bsup-faultproxy"
    sys_version = ""

    def log_message(self, fmt, *args):  # quiet; the JSON log is the record
        pass

    def setup(self):
        super().setup()
        # The status line and headers go out in one send, the body in another: with Nagle
        # the body would wait for the client's delayed ACK (40 ms on Linux), which AWS's
        # endpoints do not add to a call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.upstream = None

    def finish(self):
        try:
            super().finish()
        finally:
            if self.upstream is not None:
                self.upstream.close()

    def do_GET(self): self.handle_any()
    def do_POST(self): self.handle_any()
    def do_PUT(self): self.handle_any()
    def do_DELETE(self): self.handle_any()
    def do_HEAD(self): self.handle_any()
    def do_PATCH(self): self.handle_any()

    # -- plumbing

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in te:
            chunks = bytearray()
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(chunks), True
                if len(chunks) + size > BODY_CAP:
                    raise ValueError("request body too large")
                chunks += self.rfile.read(size)
                self.rfile.readline(1024)
        n = int(self.headers.get("Content-Length") or 0)
        if n > BODY_CAP:
            raise ValueError("request body too large")
        return (self.rfile.read(n) if n else b""), False

    def send_raw(self, status, headers, body, declared_len=None, close=False):
        self.send_response_only(status)
        for k, v in headers:
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if declared_len is None else declared_len))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.count_head()
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
            self.bytes_out += len(body)
        self.wfile.flush()

    def count_head(self):
        """Adds the status line and headers about to be sent to bytes_out."""
        self.bytes_out += sum(len(x) for x in getattr(self, "_headers_buffer", [])) + 2

    def send_json(self, status, obj):
        body = (json.dumps(obj, indent=1) + "\n").encode()
        self.send_raw(status, [("Content-Type", "application/json")], body)

    def forward(self, body, chunked):
        """Sends the request upstream; returns (status, headers, body)."""
        for attempt in (0, 1):
            reused = self.upstream is not None
            if self.upstream is None:
                self.upstream = http.client.HTTPConnection(
                    self.server.upstream_host, self.server.upstream_port, timeout=300)
            conn = self.upstream
            try:
                conn.putrequest(self.command, self.path, skip_host=True,
                                skip_accept_encoding=True)
                for k, v in self.headers.items():
                    lk = k.lower()
                    if lk in HOP_BY_HOP or lk in ("content-length", "expect"):
                        continue
                    conn.putheader(k, v)
                if body or self.command in ("POST", "PUT", "PATCH") or chunked:
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body if body else None)
                resp = conn.getresponse()
                data = resp.read()
                headers = resp.getheaders()
                if resp.will_close:
                    conn.close()
                    self.upstream = None
                return resp.status, headers, data
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as e:
                conn.close()
                self.upstream = None
                if not reused or attempt == 1:
                    raise
            except OSError:
                conn.close()
                self.upstream = None
                raise
        raise RuntimeError("unreachable")

    def hard_reset(self):
        """Closes the client connection with a TCP RST."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass

    # -- main entry

    def handle_any(self):
        t0 = time.time()
        self.bytes_out = 0
        if self.path.startswith(CONTROL_PREFIX + "/") or self.path == CONTROL_PREFIX:
            return self.control()
        try:
            body, chunked = self.read_body()
        except (ValueError, OSError) as e:
            self.send_json(400, {"error": f"bad request body: {e}"})
            self.close_connection = True
            return
        # request line, headers as received (name: value CRLF), blank line, body
        bytes_in = (len(self.raw_requestline) + 2 + len(body) +
                    sum(len(k) + len(v) + 4 for k, v in self.headers.items()))
        auth = self.headers.get("Authorization", "")
        m = _CRED_RE.search(auth)
        service = m.group(2) if m else "-"
        # A gzip body (Content-Encoding: gzip) is read decoded for the action and the rules'
        # request_contains; it is forwarded as it came, and logged with "encoding": "gzip".
        encoding = self.headers.get("Content-Encoding")
        plain = body
        if encoding == "gzip" and body:
            try:
                plain = gzip.decompress(body)
            except (OSError, EOFError):
                plain = b""
        action = request_action(self.path, self.headers, plain)
        proto = request_protocol(service, self.headers)
        client = "%s:%d" % self.client_address[:2]
        state = self.server.state

        entry = {"t": round(t0, 6), "service": service, "action": action,
                 "protocol": proto, "status": "pending", "fault": None,
                 "ms": None, "client": client}
        if encoding:
            entry["encoding"] = encoding
            entry["plain_bytes"] = len(plain)
        request_text = urllib.parse.unquote_plus(
            self.path + " " + plain[:65536].decode("utf-8", "replace"))
        delay, rule = state.admit(service, action, entry, request_text)
        if delay > 0:
            self.server.stopping.wait(delay)
        fault = rule.fault if rule else None
        spec = rule.spec if rule else {}
        status = 0
        try:
            if fault == "reset" and not spec.get("forward", False):
                self.hard_reset()
                status = "reset"
                return
            if fault in ("throttle", "skew"):
                eproto = proto
                if fault == "throttle" and service in QUERY_COMPATIBLE:
                    eproto = "query"
                code, st, etype, msg = ERROR_DEFAULTS[(fault, eproto)]
                if fault == "throttle" and service == "sqs":
                    code, st = "RequestThrottled", 403
                code = spec.get("code", code)
                st = int(spec.get("status", st))
                if fault == "skew":
                    msg = skew_message(proto, self.headers.get("X-Amz-Date"))
                msg = spec.get("message", msg)
                status, hdrs, out = error_response(service, proto, code, st, etype, msg)
                self.send_raw(status, hdrs, out)
                return
            if fault == "status":
                st = int(spec.get("status", 500))
                q, e, j, msg = STATUS_CODES.get(st, ("InternalFailure", "InternalError", "InternalFailure", "Error."))
                code = spec.get("code", {"ec2": e, "json": j}.get(
                    "query" if service in QUERY_COMPATIBLE else proto, q))
                status, hdrs, out = error_response(service, proto, code, st, "Receiver",
                                                   spec.get("message", msg))
                self.send_raw(status, hdrs, out)
                return
            try:
                status, hdrs, out = self.forward(body, chunked)
            except OSError as e:
                status, hdrs, out = error_response(service, proto, "BadGateway", 502, "Receiver",
                                                   f"fault proxy: upstream unreachable: {e}")
                self.send_raw(status, hdrs, out, close=True)
                return
            if fault == "rewrite":     # e.g. make moto's healthy targets unhealthy
                for old, new in spec["replace"]:
                    out = out.replace(old.encode(), new.encode())
            if fault == "reset":       # forwarded, then the answer is lost
                self.hard_reset()
                status = "reset"
                return
            if fault == "truncate":
                keep = min(len(out), int(spec.get("bytes", len(out) // 2)))
                self.send_raw(status, hdrs, out[:keep], declared_len=len(out) + 1 if keep == len(out) else len(out), close=True)
                return
            if fault == "stall":
                self.send_response_only(status)
                for k, v in hdrs:
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.send_header("Connection", "close")
                self.count_head()
                self.end_headers()
                self.wfile.flush()
                self.server.stopping.wait(float(spec.get("stall_s", 30)))
                self.close_connection = True
                if spec.get("then") == "body":
                    self.wfile.write(out)
                    self.bytes_out += len(out)
                    self.wfile.flush()
                return
            self.send_raw(status, hdrs, out)
        except OSError:
            self.close_connection = True
            if not status:
                status = "client-gone"
        finally:
            state.finish(entry, t0, status, bytes_in, self.bytes_out)

    # -- control API

    def control(self):
        state = self.server.state
        sub = self.path[len(CONTROL_PREFIX):].split("?", 1)[0].strip("/")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        try:
            body, _ = self.read_body()
        except (ValueError, OSError) as e:
            return self.send_json(400, {"error": str(e)})
        m = self.command
        if sub in ("", "health") and m == "GET":
            return self.send_json(200, {"ok": True, "upstream": self.server.upstream_url,
                                        "seed": state.seed, "pid": os.getpid()})
        if sub == "rules":
            if m == "GET":
                with state.lock:
                    return self.send_json(200, {"seed": state.seed,
                                                "rules": [r.report() for r in state.rules]})
            if m in ("PUT", "POST"):
                try:
                    state.set_rules(json.loads(body or b"{}"))
                except (ValueError, TypeError) as e:
                    return self.send_json(400, {"error": str(e)})
                return self.send_json(200, {"ok": True, "rules": len(state.rules)})
            if m == "DELETE":
                state.set_rules({"rules": []})
                return self.send_json(200, {"ok": True})
        if sub == "counts":
            if m == "GET":
                return self.send_json(200, state.snapshot_counts())
            if m == "DELETE":
                with state.lock:
                    state.reset_counts()
                return self.send_json(200, {"ok": True})
        if sub == "log" and m == "GET":
            since = int(query.get("since", ["0"])[0])
            with state.lock:
                first = state.log_dropped
                entries = [{k: v for k, v in e.items() if k[0] != "_"}
                           for e in state.log[max(0, since - first):]]
                return self.send_json(200, {"first": max(since, first),
                                            "next": first + len(state.log),
                                            "entries": entries})
        if sub == "rate" and m == "GET":
            return self.send_json(200, self.rate(query))
        return self.send_json(404, {"error": f"no control endpoint {m} {self.path}",
                                    "endpoints": ["GET health", "GET|PUT|DELETE rules",
                                                  "GET|DELETE counts", "GET log?since=N",
                                                  "GET rate?window_s=1&service=S&action=A"]})

    def rate(self, query):
        """Largest number of requests (matching service/action) that arrived
        within any window of window_s seconds (sliding, over the log)."""
        try:
            window = float(query.get("window_s", ["1"])[0])
        except ValueError:
            window = 1.0
        svc = query.get("service", [None])[0]
        act = query.get("action", [None])[0]
        with self.server.state.lock:
            ts = [e["t"] for e in self.server.state.log
                  if (svc is None or e["service"] == svc) and (act is None or e["action"] == act)]
        ts.sort()
        best, best_at, j = 0, None, 0
        for i, t in enumerate(ts):
            while ts[j] <= t - window:
                j += 1
            if i - j + 1 > best:
                best, best_at = i - j + 1, ts[j]
        return {"window_s": window, "service": svc, "action": act, "requests": len(ts),
                "max_in_window": best, "window_start": best_at}


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT of moto")
    ap.add_argument("--port", type=int, default=0, help="listen port (0 = free port)")
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--owner", type=int, default=0,
                    help="exit when this pid is gone (0 = never)")
    args = ap.parse_args(argv)

    up = urllib.parse.urlsplit(args.upstream)
    if up.hostname != "127.0.0.1":
        sys.exit("faultproxy: upstream must be on 127.0.0.1")
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.state = State(args.seed)
    srv.upstream_url = args.upstream
    srv.upstream_host = up.hostname
    srv.upstream_port = up.port
    srv.stopping = threading.Event()

    def on_term(signum, frame):
        srv.stopping.set()
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    if args.owner:
        def watch_owner():
            while not srv.stopping.wait(0.5):
                try:
                    os.kill(args.owner, 0)
                except ProcessLookupError:
                    on_term(None, None)
                    return
                except PermissionError:
                    pass
        threading.Thread(target=watch_owner, daemon=True).start()

    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{srv.server_address[1]}\n")
        os.rename(tmp, args.port_file)
    srv.serve_forever(poll_interval=0.2)
    srv.server_close()


if __name__ == "__main__":
    main()
