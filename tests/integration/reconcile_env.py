"""Shared by the reconcile integration tests: a local AWS with the fault proxy, a lean seeded
backend of N generated services, drop-ins that match it, and bsupd driven against it."""
import json
import os
import subprocess
import sys

SRC = os.environ.get("BSUP_SRCDIR", ".")
sys.path.insert(0, os.path.join(SRC, "scripts", "localaws.d"))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
import testlib  # noqa: E402
import bsuptest  # noqa: E402

LOCALAWS = os.path.join(SRC, "scripts", "localaws")


def aws_env(d):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(testlib.read_env(d))
    return env


def moto(d, name):
    """A boto3 client straight at moto, for a test's own setup and checks: the fault proxy
    neither counts nor faults its calls."""
    import boto3
    env = testlib.read_env(d)
    return boto3.client(name, endpoint_url=env["BSUP_MOTO_URL"], region_name=env["AWS_REGION"],
                        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])


def seed_scenario(d, text, *flags):
    """Seeds the scenario text with `localaws seed FLAGS...` and returns seeded.json."""
    path = os.path.join(d, "scenario.yaml")
    with open(path, "w") as f:
        f.write(text)
    subprocess.run([LOCALAWS, "seed", "--dir", d, *flags, path], check=True, timeout=600,
                   stdout=subprocess.DEVNULL)
    with open(os.path.join(d, "seeded.json")) as f:
        return json.load(f)


def seed(d, n, drift_every=0):
    """Seeds n generated services (lean) and returns (scenario services, seeded network)."""
    gen = subprocess.run([LOCALAWS, "generate", str(n)] +
                         (["--drift-every", str(drift_every)] if drift_every else []),
                         check=True, capture_output=True, text=True).stdout
    seeded = seed_scenario(d, gen, "--lean")
    names = [l.split(":", 1)[1].strip() for l in gen.splitlines()
             if l.strip().startswith("- service_name:")]
    envs = [l.split(":", 1)[1].strip() for l in gen.splitlines()
            if l.strip().startswith("environment:")]
    mins = [int(l.split(":", 1)[1]) for l in gen.splitlines() if l.strip().startswith("min_size:")]
    maxs = [int(l.split(":", 1)[1]) for l in gen.splitlines() if l.strip().startswith("max_size:")]
    types = [l.split(":", 1)[1].strip() for l in gen.splitlines()
             if l.strip().startswith("instance_type:")]
    keep = [int(l.split(":", 1)[1]) for l in gen.splitlines()
            if l.strip().startswith("backup_retention:")]
    services = [dict(name=a, env=b, min=c, max=m, type=t, retention=r)
                for a, b, c, m, t, r in zip(names, envs, mins, maxs, types, keep)]
    return services, seeded["network"]


# The health check the seed gives every target group (scripts/localaws.d/scenario.py).
SEEDED_HEALTH_CHECK = "health_check: {path: /health, healthy_threshold: 3, unhealthy_threshold: 3}\n"


def dropin(svc, net, extra=""):
    subnets = ", ".join(net["subnet_ids"])
    db = svc["name"].replace("-", "_")  # what seeding names the database and its user
    hc = "" if "health_check:" in extra else SEEDED_HEALTH_CHECK
    return (f"service_name: {svc['name']}\nenvironment: {svc['env']}\n"
            f"vpc_id: {net['vpc_id']}\nsubnet_ids: [{subnets}]\n"
            f"database_name: {db}\ndatabase_username: {db}_admin\n"
            f"database_password: ssm:/{svc['name']}/db\ninstance_type: {svc['type']}\n"
            f"min_size: {svc['min']}\nmax_size: {svc['max']}\n"
            f"backup_retention: {svc.get('retention', 7)}\n{hc}{extra}")


def daemon(d, services, net, settings="", extra=None):
    files = {f"{i:04d}-{s['name']}.yaml": dropin(s, net, (extra or {}).get(s["name"], ""))
             for i, s in enumerate(services)}
    env = aws_env(d)
    return bsuptest.Daemon(settings=f"region: {env['AWS_REGION']}\nlog_level: info\n" + settings,
                           env=env, files=files)


def credentials_run(d, services, net, env, what, ok=True):
    """Starts bsupd with env and no keys of its own (they come from what env configures), runs
    a cycle, checks (when ok) that AWS answered it, stops bsupd; returns (status credentials,
    status text, log)."""
    dm = daemon(d, services, net)
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        dm.env.pop(k, None)
    dm.env.update(env, AWS_EC2_METADATA_DISABLED="true")
    dm.start()
    dm.ctl("reconcile", "--wait", expect=None)
    st = dm.ctl_json("status", expect=None)
    text = dm.ctl("status", expect=None).stdout
    asg = st["engine"]["aws"].get("autoscaling", {})
    if ok:
        testlib.check(asg.get("requests", 0) > 0 and asg.get("errors") == 0,
                      f"{what}: a cycle with these credentials: {asg} "
                      f"{st['daemon']['credentials']}")
    log = dm.logtext()
    rc, _ = dm.stop()
    testlib.check(rc == 0, f"{what}: stop: {rc}")
    return st["daemon"]["credentials"], text, log


def once(dm, *flags, env=None):
    return subprocess.run(dm.argv() + ["--once", *flags], capture_output=True, text=True,
                          timeout=300, env=dict(dm.env, **(env or {})))


def counts(d, service=None, action=None):
    c = testlib.control(aws_env(d)["BSUP_FAULTS_URL"], "GET", "counts")
    if service is None:
        return c["total"]
    per = c["services"].get(service, {})
    return per.get(action, 0) if action else sum(per.values())


def group(d, name):
    cli = testlib.Cli(d)
    p = cli("autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", name)
    g = p.json["AutoScalingGroups"][0]
    return g["MinSize"], g["MaxSize"], g["DesiredCapacity"]


def drift(d, group_name, what, value=None):
    subprocess.run([LOCALAWS, "drift", "--dir", d, group_name, what] +
                   ([str(value)] if value is not None else []), check=True, timeout=60,
                   stdout=subprocess.DEVNULL)
