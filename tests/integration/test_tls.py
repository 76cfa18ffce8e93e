#!/usr/bin/env python3
"""TLS to AWS is verified, and AWS_CA_BUNDLE is how bsupd trusts a private CA: a throwaway CA
and server certificates (made here with the openssl CLI) in front of the local AWS on loopback.
(a) Without AWS_CA_BUNDLE the certificate is refused, said in status, and nothing reaches AWS;
(b) with it, a cycle observes the group and status names the bundle; (c) a certificate for
another name from the same CA is refused (host name check); (d) a bad AWS_CA_BUNDLE (or
profile ca_bundle) stops bsupd at start and --check-config, naming it and the path; (e) an
https:// container credential endpoint is verified with the same bundle."""
import http.server
import os
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certs(tmp):
    """ca.pem, and good.pem/good.key (SAN IP:127.0.0.1) and other.pem/other.key (SAN
    DNS:example.invalid only), both signed by the CA."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "1", "-subj", "/CN=bsup test CA", cwd=tmp)
    for name, san in (("good", "IP:127.0.0.1"), ("other", "DNS:example.invalid")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", f"/CN={name}", cwd=tmp)
        with open(os.path.join(tmp, f"{name}.ext"), "w") as f:
            f.write(f"subjectAltName={san}\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "1", "-extfile", f"{name}.ext", "-out",
                f"{name}.pem", cwd=tmp)


class Forwarder(socketserver.ThreadingTCPServer):
    """TLS on 127.0.0.1 in front of the local AWS: after a handshake, bytes are piped both
    ways. upstream counts the connections whose request got through to the local AWS."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, cert, key, target):
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(cert, key)
        self.target = target
        self.upstream = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"https://127.0.0.1:{self.server_address[1]}"


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        srv = self.server
        self.request.settimeout(30)
        try:
            tls = srv.ctx.wrap_socket(self.request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # the client refused the certificate
        try:
            first = tls.recv(65536)
        except (ssl.SSLError, OSError):
            first = b""
        if not first:
            tls.close()
            return  # refused after the handshake (libcurl checks the host name then)
        with srv.lock:
            srv.upstream += 1
        up = socket.create_connection(srv.target, timeout=30)
        up.sendall(first)

        def pipe(a, b):
            try:
                while True:
                    data = a.recv(65536)
                    if not data:
                        break
                    b.sendall(data)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        t = threading.Thread(target=pipe, args=(up, tls), daemon=True)
        t.start()
        pipe(tls, up)
        t.join(30)
        tls.close()
        up.close()


def observed(dm, name):
    """One cycle; the service's status row."""
    dm.ctl("reconcile", "--wait", expect=None)
    return next(s for s in dm.ctl_json("status", expect=None)["services"] if s["service"] == name)


with testlib.environment() as d:
    tmp = R.bsuptest.tmpdir()
    make_certs(tmp)
    services, net = R.seed(d, 1)
    name = services[0]["name"]
    plain = R.aws_env(d)["AWS_ENDPOINT_URL"].split("://", 1)[1].rstrip("/")
    target = (plain.rsplit(":", 1)[0], int(plain.rsplit(":", 1)[1]))
    good = Forwarder(os.path.join(tmp, "good.pem"), os.path.join(tmp, "good.key"), target)
    other = Forwarder(os.path.join(tmp, "other.pem"), os.path.join(tmp, "other.key"), target)
    ca = os.path.join(tmp, "ca.pem")

    def daemon(url, bundle=None):
        dm = R.daemon(d, services, net)
        for k in [k for k in dm.env if k.startswith("AWS_ENDPOINT_URL")]:
            del dm.env[k]
        dm.env["AWS_ENDPOINT_URL"] = url
        dm.env.pop("AWS_CA_BUNDLE", None)
        dm.env["AWS_CONFIG_FILE"] = dm.env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent"
        if bundle:
            dm.env["AWS_CA_BUNDLE"] = bundle
        return dm

    # (a) The system CAs do not know the throwaway CA: refused, and nothing reached AWS.
    dm = daemon(good.url)
    dm.start()
    row = observed(dm, name)
    text = dm.ctl("status", name, expect=None).stdout
    print(text)
    check(row["state"] == "error" and not row["scaling"],
          f"(a) without AWS_CA_BUNDLE: error, the group not observed: {row['state']}")
    check("TLS certificate verification failed (the system CAs): SSL certificate problem"
          in " ".join(text.split()), f"(a) bsupctl status says the certificate was refused:\n{text}")
    check(good.upstream == 0, f"(a) no connection got through to AWS: {good.upstream}")
    check(dm.ctl_json("status", expect=None)["daemon"]["ca_bundle"] is None,
          "(a) status: no CA bundle configured")
    dm.stop()

    # (b) AWS_CA_BUNDLE: verified against the throwaway CA, the group observed.
    dm = daemon(good.url, ca)
    dm.start()
    row = observed(dm, name)
    st = dm.ctl_json("status", expect=None)["daemon"]
    check(row["scaling"] and row["scaling"]["found"] and row["state"] != "error" and
          good.upstream > 0,
          f"(b) with AWS_CA_BUNDLE: the group observed: {row['state']} {row['scaling']}")
    check(st["ca_bundle"] == {"path": ca, "from": "AWS_CA_BUNDLE"},
          f"(b) status names the bundle: {st['ca_bundle']}")
    text = dm.ctl("status", expect=None).stdout
    check(f"TLS: trusting only the CA bundle {ca} (AWS_CA_BUNDLE)" in text,
          f"(b) bsupctl status names the bundle:\n{text}")
    check(f"CA bundle {ca}" in dm.logtext(), "(b) the log names the bundle")
    dm.stop()

    # (c) The right CA, the wrong name: refused by the host name check.
    dm = daemon(other.url, ca)
    dm.start()
    row = observed(dm, name)
    text = dm.ctl("status", name, expect=None).stdout
    print(text)
    check(row["state"] == "error" and not row["scaling"] and other.upstream == 0,
          f"(c) a certificate for example.invalid: refused: {row['state']}, {other.upstream}")
    check(f"TLS certificate verification failed (CA bundle {ca}): " in " ".join(text.split())
          and "127.0.0.1" in text,
          f"(c) bsupctl status says the name does not match:\n{text}")
    dm.stop()

    # (b') The profile's ca_bundle, when AWS_CA_BUNDLE is unset.
    cfg = os.path.join(tmp, "config")
    with open(cfg, "w") as f:
        f.write(f"[default]\nregion = us-east-1\nca_bundle = {ca}\n")
    dm = daemon(good.url)
    dm.env["AWS_CONFIG_FILE"] = cfg
    dm.start()
    row = observed(dm, name)
    st = dm.ctl_json("status", expect=None)["daemon"]
    check(row["scaling"] and row["scaling"]["found"] and
          st["ca_bundle"] == {"path": ca, "from": f"ca_bundle of profile 'default' in {cfg}"},
          f"(b') the profile's ca_bundle: {row['state']} {st['ca_bundle']}")
    dm.stop()

    # (d) A bundle that cannot be used stops bsupd at start (and --check-config), never the
    # default CAs instead.
    junk = os.path.join(tmp, "junk.pem")
    with open(junk, "w") as f:
        f.write("not a certificate\n")
    for bundle, says in ((os.path.join(tmp, "missing.pem"), "not found"),
                         (junk, "is not a PEM CA bundle")):
        dm = daemon(good.url, bundle)
        for flags in ([], ["--check-config"]):
            r = subprocess.run(dm.argv() + flags, env=dm.env, capture_output=True, text=True,
                               timeout=60)
            check(r.returncode == 1 and f"AWS_CA_BUNDLE: " in r.stderr and bundle in r.stderr
                  and says in r.stderr,
                  f"(d) {' '.join(flags) or 'start'} with AWS_CA_BUNDLE={bundle}: exit "
                  f"{r.returncode}: {r.stderr.strip()}")
    # The profile's ca_bundle, when AWS_CA_BUNDLE is unset, the same.
    with open(cfg, "w") as f:
        f.write(f"[default]\nca_bundle = {junk}\n")
    dm = daemon(good.url)
    dm.env["AWS_CONFIG_FILE"] = cfg
    r = subprocess.run(dm.argv(), env=dm.env, capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and f"ca_bundle of profile 'default' in {cfg}" in r.stderr and
          junk in r.stderr, f"(d) the profile's bad ca_bundle: exit {r.returncode}: {r.stderr}")

    # (e) Credentials from an https:// container endpoint: the same bundle verifies it (the
    # AWS calls themselves go to the local AWS over plain HTTP here).
    aws = R.aws_env(d)
    key, secret = aws["AWS_ACCESS_KEY_ID"], aws["AWS_SECRET_ACCESS_KEY"]

    class Container(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
            body = ('{"AccessKeyId": "%s", "SecretAccessKey": "%s", "Expiration": "%s"}' %
                    (key, secret, exp)).encode()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Container)
    sctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    sctx.load_cert_chain(os.path.join(tmp, "good.pem"), os.path.join(tmp, "good.key"))
    srv.socket = sctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    for bundle in (None, ca):
        dm = daemon(aws["AWS_ENDPOINT_URL"], bundle)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            dm.env.pop(k, None)
        dm.env.update(AWS_CONTAINER_CREDENTIALS_FULL_URI=f"https://127.0.0.1:{srv.server_port}/c",
                      AWS_EC2_METADATA_DISABLED="true")
        dm.start()
        row = observed(dm, name)
        c = dm.ctl_json("status", expect=None)["daemon"]["credentials"]
        if bundle:
            check(c["source"] == "container" and row["scaling"] and row["scaling"]["found"],
                  f"(e) with AWS_CA_BUNDLE: container credentials over https: {c}")
        else:
            check(c["source"] is None and
                  "TLS certificate verification failed" in (c["last_error"] or "") and
                  not row["scaling"],
                  f"(e) without AWS_CA_BUNDLE: the container endpoint's certificate refused: {c}")
        dm.stop()
    srv.shutdown()

finish()
