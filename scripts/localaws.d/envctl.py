"""start / stop / status of a local AWS environment (moto_server + fault proxy).

Everything started for one DIR runs in one process group whose leader is
moto_server; DIR/state.json records the pgid, pids and ports, and each process
carries LOCALAWS_TOKEN=<random> in its environment, so `stop` only signals
processes that are provably ours.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
# Requests moto serves before it starts enforcing SigV4 + IAM: exactly the
# three bootstrap calls below (CreateUser, PutUserPolicy, CreateAccessKey).
NO_AUTH_COUNT = 3
USER = "bsup-localaws"
HERE = os.path.dirname(os.path.abspath(__file__))
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


class EnvError(Exception):
    pass


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_busy(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _http_get(url, timeout=2.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _group_members(pgid, token):
    """Pids in process group `pgid` that carry our LOCALAWS_TOKEN."""
    out = []
    marker = f"LOCALAWS_TOKEN={token}".encode()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid or fields[0] == "Z":
                continue
            with open(f"/proc/{name}/environ", "rb") as f:
                if marker in f.read().split(b"\0"):
                    out.append(int(name))
        except (OSError, IndexError, ValueError):
            continue
    return out


def state_path(d):
    return os.path.join(d, "state.json")


def load_state(d):
    try:
        with open(state_path(d)) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _write_atomic(path, text, mode=0o600):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def _spawn(argv, env, log_path, pgid=None):
    log = open(log_path, "ab")
    kw = {"process_group": pgid or 0}  # own group, same session (so others may join it)
    try:
        return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT,
                                close_fds=True, **kw)
    finally:
        log.close()


def _start_moto(d, env, port, tries):
    """Starts moto_server; returns (Popen, port). Retries on a lost port race."""
    exe = shutil.which("moto_server")
    if not exe:
        raise EnvError("moto_server not found on PATH (it comes with the Python "
                       "package moto[server]; this image's python3 should ship it)")
    last = ""
    for _ in range(tries):
        p = port or _free_port()
        if port and _port_busy(p):
            raise EnvError(f"port {p} on 127.0.0.1 is already in use")
        log_path = os.path.join(d, "moto.log")
        # moto_server's own code, through motoserver.py (one fix: gzip bodies decoded once)
        proc = _spawn([sys.executable, os.path.join(HERE, "motoserver.py"), "-H", "127.0.0.1",
                       "-p", str(p)], env, log_path)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                st, _ = _http_get(f"http://127.0.0.1:{p}/moto-api/", timeout=1.0)
                # our child must still be alive: otherwise someone else answered
                if st == 200 and proc.poll() is None and _pid_alive(proc.pid):
                    return proc, p
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        else:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
            raise EnvError(f"moto_server not ready on 127.0.0.1:{p} after "
                           f"{READY_TIMEOUT_S:.0f}s; see {log_path}")
        with open(log_path, errors="replace") as f:
            last = f.read()[-2000:]
        if "in use" not in last:
            raise EnvError(f"moto_server exited with {proc.returncode}; see {log_path}:\n{last}")
        if port:
            raise EnvError(f"port {p} on 127.0.0.1 is already in use")
    raise EnvError(f"could not find a free port after {tries} tries:\n{last}")


def _bootstrap_iam(endpoint, region):
    """The NO_AUTH_COUNT unauthenticated calls: a user, its policy, its key."""
    import boto3
    from botocore.config import Config
    cfg = Config(retries={"max_attempts": 1, "mode": "standard"},
                 connect_timeout=5, read_timeout=30)
    iam = boto3.client("iam", endpoint_url=endpoint, region_name=region,
                       aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap",
                       config=cfg)
    iam.create_user(UserName=USER)
    iam.put_user_policy(UserName=USER, PolicyName="allow-all", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=USER)["AccessKey"]
    sts = boto3.client("sts", endpoint_url=endpoint, region_name=region,
                       aws_access_key_id=key["AccessKeyId"],
                       aws_secret_access_key=key["SecretAccessKey"], config=cfg)
    ident = sts.get_caller_identity()
    if not ident["Arn"].endswith(f"user/{USER}"):
        raise EnvError(f"unexpected caller identity {ident['Arn']}")
    # and enforcement is on: a wrong secret must be refused
    bad = boto3.client("sts", endpoint_url=endpoint, region_name=region,
                       aws_access_key_id=key["AccessKeyId"],
                       aws_secret_access_key="wrong" + key["SecretAccessKey"], config=cfg)
    try:
        bad.get_caller_identity()
    except Exception as e:  # botocore ClientError
        code = getattr(e, "response", {}).get("Error", {}).get("Code")
        if code != "SignatureDoesNotMatch":
            raise EnvError(f"wrong secret gave {code!r}, not SignatureDoesNotMatch")
    else:
        raise EnvError("moto accepted a wrong secret: signing is not enforced")
    return key["AccessKeyId"], key["SecretAccessKey"]


def start(d, faults=False, region="us-east-1", port=0, seed=0, owner=0, elb_metrics=True):
    d = os.path.abspath(d)
    os.makedirs(d, exist_ok=True)
    old = load_state(d)
    if old and _group_members(old["pgid"], old["token"]):
        raise EnvError(f"an environment is already running in {d} "
                       f"(pgid {old['pgid']}); run: scripts/localaws stop --dir {d}")
    for name in ("env", "state.json", "proxy.port"):
        try:
            os.unlink(os.path.join(d, name))
        except FileNotFoundError:
            pass
    token = secrets.token_hex(8)
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(NO_AUTH_COUNT),
               LOCALAWS_TOKEN=token, LOCALAWS_DIR=d, PYTHONUNBUFFERED="1",
               LOCALAWS_ELB_METRICS="1" if elb_metrics else "0")
    for k in list(env):
        if k.startswith("AWS_"):
            del env[k]
    t0 = time.monotonic()
    moto, moto_port = _start_moto(d, env, port, tries=1 if port else 5)
    st = {"token": token, "pgid": moto.pid, "moto_pid": moto.pid,
          "moto_port": moto_port, "region": region, "dir": d}
    _write_atomic(state_path(d), json.dumps(st, indent=1) + "\n")
    try:
        moto_url = f"http://127.0.0.1:{moto_port}"
        akid, secret = _bootstrap_iam(moto_url, region)
        endpoint = moto_url
        if faults:
            pf = os.path.join(d, "proxy.port")
            proxy = _spawn([sys.executable, os.path.join(HERE, "faultproxy.py"),
                            "--upstream", moto_url, "--port-file", pf,
                            "--seed", str(seed)],
                           env, os.path.join(d, "proxy.log"), pgid=moto.pid)
            st["proxy_pid"] = proxy.pid
            _write_atomic(state_path(d), json.dumps(st, indent=1) + "\n")
            deadline = time.monotonic() + READY_TIMEOUT_S
            while not os.path.exists(pf):
                if proxy.poll() is not None or time.monotonic() > deadline:
                    raise EnvError(f"fault proxy did not start; see {d}/proxy.log")
                time.sleep(0.02)
            with open(pf) as f:
                st["proxy_port"] = int(f.read())
            endpoint = f"http://127.0.0.1:{st['proxy_port']}"
            _http_get(endpoint + "/__faults/health")
        if owner:
            wd = _spawn([sys.executable, os.path.join(HERE, "watchdog.py"),
                         str(owner), str(moto.pid)],
                        env, os.path.join(d, "watchdog.log"), pgid=moto.pid)
            st["watchdog_pid"] = wd.pid
        st["endpoint"] = endpoint
        st["started_s"] = round(time.monotonic() - t0, 3)
        _write_atomic(state_path(d), json.dumps(st, indent=1) + "\n")
        lines = [
            "# written by scripts/localaws start; source it: . DIR/env",
            f"export AWS_ENDPOINT_URL={endpoint}",
            f"export AWS_ACCESS_KEY_ID={akid}",
            f"export AWS_SECRET_ACCESS_KEY={secret}",
            f"export AWS_REGION={region}",
            f"export AWS_DEFAULT_REGION={region}",
            "export AWS_PAGER=\"\"",
            f"export AWS_CONFIG_FILE={d}/aws-config",
            f"export AWS_SHARED_CREDENTIALS_FILE={d}/aws-credentials",
            "unset AWS_SESSION_TOKEN AWS_PROFILE",
            f"export BSUP_MOTO_URL={moto_url}",
            f"export BSUP_LOCALAWS_DIR={d}",
        ]
        if faults:
            lines.append(f"export BSUP_FAULTS_URL={endpoint}/__faults")
        lines += [
            "# awscli v1 ignores AWS_ENDPOINT_URL for sqs and rds (its",
            "# overridesslcommonname customization); pass the endpoint explicitly.",
            'aws() { command aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }',
        ]
        for name in ("aws-config", "aws-credentials"):
            _write_atomic(os.path.join(d, name), "")
        _write_atomic(os.path.join(d, "env"), "\n".join(lines) + "\n")
    except BaseException:
        stop(d, quiet=True)
        raise
    return st


def stop(d, quiet=False):
    """Stops every process started for d. Returns the number signalled."""
    d = os.path.abspath(d)
    st = load_state(d)
    if not st:
        if not quiet:
            print(f"localaws: nothing running in {d}", file=sys.stderr)
        return 0
    pgid, token = st["pgid"], st["token"]
    members = _group_members(pgid, token)
    n = len(members)
    if members:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _group_members(pgid, token) and time.monotonic() < deadline:
            _reap()
            time.sleep(0.05)
        if _group_members(pgid, token):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while _group_members(pgid, token) and time.monotonic() < deadline:
                _reap()
                time.sleep(0.05)
        left = _group_members(pgid, token)
        if left:
            raise EnvError(f"processes {left} survived SIGKILL")
    for name in ("state.json", "proxy.port", "env"):
        try:
            os.unlink(os.path.join(d, name))
        except FileNotFoundError:
            pass
    return n


def _reap():
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def status(d):
    st = load_state(os.path.abspath(d))
    if not st:
        return None
    st["running"] = _group_members(st["pgid"], st["token"])
    return st
