#!/usr/bin/env python3
"""Writes the seed inputs of every fuzz target into OUT/<target>/ (one file per input, named by
its SHA-1, so duplicates collapse). The seeds come from the project's own data: tests/data (AWS
responses, protocol tests, credential cases, the SigV4 suite), etc/ (drop-ins, bsupd.yaml),
the drop-in cases of tests/unit/test_config.c, and the requests of docs/control-protocol.md.
scripts/fuzz merges them into tests/fuzz/corpus/ (libFuzzer -merge=1 keeps only those that
add coverage), so the committed corpus stays small.

Usage: tests/fuzz/seed.py OUT
"""
import glob
import hashlib
import json
import os
import re
import sys

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DATA = os.path.join(SRC, "tests", "data")
MAX_BYTES = 32 * 1024  # larger inputs only slow the fuzzer down (scripts/fuzz's -max_len)


class Seeds:
    def __init__(self, out):
        self.out = out
        self.count = {}

    def add(self, target, data):
        if isinstance(data, str):
            data = data.encode()
        if len(data) > MAX_BYTES:
            return
        d = os.path.join(self.out, target)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, hashlib.sha1(data).hexdigest())
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(data)
            self.count[target] = self.count.get(target, 0) + 1


def read(path):
    with open(path, "rb") as f:
        return f.read()


# ---- C string literals (test_config.c's case table) ----

def c_literals(text):
    """Decodes the concatenated C string literals of text (one expression)."""
    out = bytearray()
    for m in re.finditer(r'"((?:[^"\\]|\\.)*)"', text, re.S):
        s = m.group(1)
        i = 0
        while i < len(s):
            c = s[i]
            if c != "\\":
                out += c.encode()
                i += 1
                continue
            n = s[i + 1]
            if n == "x":
                h = re.match(r"[0-9a-fA-F]+", s[i + 2:]).group(0)
                out.append(int(h, 16) & 0xFF)
                i += 2 + len(h)
            else:
                out += {"n": b"\n", "t": b"\t", "r": b"\r", "0": b"\0", "\\": b"\\",
                        '"': b'"', "'": b"'"}.get(n, n.encode())
                i += 2
    return bytes(out)


def config_cases():
    """The YAML of every {yaml, expect} case of tests/unit/test_config.c's s_cases table."""
    text = read(os.path.join(SRC, "tests", "unit", "test_config.c")).decode()
    base = re.search(r"#define BASE((?:.*\\\n)*.*\n)", text).group(1)
    base_bytes = c_literals(base)
    table = re.search(r"s_cases\[\] = \{(.*?)\n\};", text, re.S).group(1)
    for m in re.finditer(r"\{\s*((?:BASE\s*)?(?:\"(?:[^\"\\]|\\.)*\"\s*)*)(?:,|\})", table):
        expr = m.group(1)
        if not expr.strip():
            continue
        yield (base_bytes if expr.lstrip().startswith("BASE") else b"") + c_literals(expr)


# ---- targets ----

def seed_config(s):
    for p in sorted(glob.glob(os.path.join(SRC, "etc", "bsup.d", "*.y*ml"))):
        s.add("config", read(p))
    for y in config_cases():
        s.add("config", y)
    s.add("config", b"\xef\xbb\xbfservice_name: bom\n")
    s.add("config", "services:\n  - service_name: a\n    environment: dev\n"
                    "    vpc_id: vpc-0a1b2c3d\n    subnet_ids: [subnet-0a1b2c3d]\n"
                    "    database_name: a\n    database_username: a\n"
                    "    database_password: plain\n    health_check: {grace_period: 5m}\n"
                    "  - {service_name: a, environment: prod}\n")


def seed_settings(s):
    s.add("settings", read(os.path.join(SRC, "etc", "bsupd.yaml")))
    s.add("settings", "interval: 30s\nmode: enforce\nrate_limits:\n"
                      "  autoscaling_describe: {burst: 10, rate_per_s: 2}\n"
                      "endpoint_urls: {autoscaling: 'http://127.0.0.1:5000'}\n")
    s.add("settings", "interval: 1s\nlog_level: chatty\nsocket: [a]\n")
    s.add("settings", "- a\n- b\n")
    s.add("settings", "")


def aws_tables():
    """(services: id -> endpoint prefix, operations: [(service id, action)]) in table order,
    read from the generated core/aws/model_gen.c."""
    text = read(os.path.join(SRC, "core", "aws", "model_gen.c")).decode()
    services = {}
    for m in re.finditer(r'\[BSUP_AWS_(\w+)\] = \{"([^"]+)", "([^"]+)", "[^"]*", BSUP_AWS_PROTO_(\w+)',
                         text):
        services[m.group(1)] = (m.group(2), m.group(3), m.group(4))
    ops_text = re.search(r"bsup_aws_operations\[\] = \{(.*?)\n\};", text, re.S).group(1)
    ops = []
    for m in re.finditer(r'\{BSUP_AWS_(\w+), "(\w+)"', ops_text):
        sid, prefix, proto = services[m.group(1)]
        ops.append((sid, prefix, proto, m.group(2)))
    return ops


def seed_aws_response(s):
    ops = aws_tables()

    def index(svc=None, action=None, proto=None):
        for i, (sid, prefix, p, a) in enumerate(ops):
            if (svc is None or svc in (sid, prefix)) and (action is None or a == action) and \
                    (proto is None or p == proto):
                return i
        return None

    def add(i, body, error=False):
        if i is None:
            return
        s.add("aws_response", bytes([i]) + body)
        if error:
            s.add("aws_response", bytes([i | 0x80]) + b"Throttling;Sender\n" + body)

    # Captured moto responses of every operation bsupd calls.
    for p in sorted(glob.glob(os.path.join(DATA, "aws", "*", "*"))):
        if not p.endswith((".xml", ".json")) or p.endswith((".meta.json", ".expected.json")):
            continue
        svc = os.path.basename(os.path.dirname(p))
        action = re.match(r"[A-Za-z]+", os.path.basename(p)).group(0)
        add(index(svc, action), read(p), error="error" in os.path.basename(p))
    # Real AWS XML responses of the same services (other operations: another op's shapes).
    for p in sorted(glob.glob(os.path.join(DATA, "aws-responses", "*", "*.xml")) +
                    glob.glob(os.path.join(DATA, "aws-responses", "*", "errors", "*.xml"))):
        svc = p.split(os.sep)[-2] if p.split(os.sep)[-2] != "errors" else p.split(os.sep)[-3]
        name = os.path.splitext(os.path.basename(p))[0]
        action = "".join(w.capitalize() for w in name.split("-")[1:])
        i = index(svc, action)
        add(i if i is not None else index(svc), read(p), error="errors" in p)
    # Smithy protocol tests: bodies of each protocol, successes and errors.
    for proto_file, proto in (("query", "QUERY"), ("ec2", "EC2"), ("json", "JSON"),
                              ("json_1_0", "JSON")):
        with open(os.path.join(DATA, "protocol-tests", "output", proto_file + ".json")) as f:
            suites = json.load(f)
        i = index(proto=proto)
        for suite in suites:
            for case in suite["cases"]:
                body = case.get("response", {}).get("body", "")
                add(i, body.encode(), error="errorCode" in case)


CONTROL_REQUESTS = [
    '{"cmd":"status"}',
    '{"cmd":"status","service":"api","id":1}',
    '{"cmd":"plan","service":"api","id":"x"}',
    '{"cmd":"events","since_s":3600,"service":"api","limit":10}',
    '{"cmd":"reconcile","service":"api","wait":true,"id":[1,{"a":null}]}',
    '{"cmd":"reload"}',
    '{"cmd":"pause","id":null}',
    '{"cmd":"resume"}',
    '{"cmd":"reload","service":"api"}',
    '{"cmd":"status","service":5}',
    '{"cmd":"frobnicate"}',
    '{"cmd":"s' + "\u00e9" * 40 + '"}',
    '{"cmd":7}',
    '{"cmd":"status","cmd":"plan"}',
    '[1,2]',
    '{"cmd":"status"',
    '\u00e9\u00e9',
]


def seed_control(s):
    for r in CONTROL_REQUESTS:
        s.add("control", r + "\n")
        s.add("control", r)
    s.add("control", "\n".join(CONTROL_REQUESTS) + "\n")
    s.add("control", '\r\n\n{"cmd":"status"}\r\n\r\n{"cmd":"plan"}\n{"cmd":"reload"}')
    s.add("control", '{"cmd":"status","pad":"' + "x" * 1100 + '"}\n{"cmd":"plan"}\n')
    s.add("control", '{"cmd":"status","pad":"' + "x" * 1000 + '"}\r\n')


def seed_sigv4(s):
    for p in sorted(glob.glob(os.path.join(DATA, "sigv4", "**", "*.req"), recursive=True)):
        s.add("sigv4", read(p))
    s.add("sigv4", "POST /a/../b/./c//d?b=2&a=1&a=&%41=%zz HTTP/1.1\nHost:h\n"
                   "User-Agent:x\nX-Amz-Content-SHA256:UNSIGNED-PAYLOAD\n\nbody")


def seed_profile(s):
    with open(os.path.join(DATA, "credentials", "profile-parser-tests.json")) as f:
        cases = json.load(f)["tests"]
    for c in cases:
        config = c["input"].get("configFile")
        creds = c["input"].get("credentialsFile")
        if creds is None:
            s.add("profile", config or "")
        else:
            s.add("profile", (config or "") + "\0" + creds)
    chain = os.path.join(DATA, "credentials", "default-credential-provider-chain")
    for case in sorted(os.listdir(chain)):
        aws = os.path.join(chain, case, "fs", "home", ".aws")
        config = os.path.join(aws, "config")
        creds = os.path.join(aws, "credentials")
        if os.path.exists(config) or os.path.exists(creds):
            c = read(config) if os.path.exists(config) else b""
            s.add("profile", c + (b"\0" + read(creds) if os.path.exists(creds) else b""))


def seed_credentials(s):
    chain = os.path.join(DATA, "credentials", "default-credential-provider-chain")
    for p in sorted(glob.glob(os.path.join(chain, "*", "http-traffic.json"))):
        with open(p) as f:
            events = json.load(f).get("events", [])
        for e in events:
            data = e.get("action", {}).get("Data", {}).get("data", {})
            body = data.get("Utf8")
            if body and e["action"]["Data"].get("direction") == "Response":
                s.add("credentials", body)
    s.add("credentials", '{"Code":"Success","AccessKeyId":"A","SecretAccessKey":"S",'
                         '"Token":"T","Expiration":"2021-09-21T04:16:53.123+02:00"}')
    s.add("credentials", '{"Code":"Failure","Message":"no"}')
    s.add("credentials", '{"AccessKeyId":"A","SecretAccessKey":"","Expiration":null}')


def seed_wire(s):
    # Every timestamp the captured and real responses carry, and the other spellings.
    for p in sorted(glob.glob(os.path.join(DATA, "aws*", "**", "*.xml"), recursive=True)):
        for m in re.finditer(rb"\d{4}-\d\d-\d\d[T ][0-9:.]+(?:Z|[+-]\d\d:?\d\d)?", read(p)):
            s.add("wire", m.group(0))
    for text in ("1422172800", "1422172800.5", "-1", "1e3", "Sun, 25 Jan 2015 08:00:00 GMT",
                 "2019-12-16T22:48:18-01:00", "2000-01-02T20:34:56.123Z", "2015-01-01 00:00:00",
                 "dmFsdWU=", "QQ==", "QUJD", ""):
        s.add("wire", text)


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    s = Seeds(sys.argv[1])
    for fn in (seed_config, seed_settings, seed_aws_response, seed_control, seed_sigv4,
               seed_profile, seed_credentials, seed_wire):
        fn(s)
    for target in sorted(s.count):
        print("seed.py: %-13s %4d seeds" % (target, s.count[target]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
