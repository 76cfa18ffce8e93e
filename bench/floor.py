"""The floor of a reconcile cycle: the least time the AWS work of N services can take, whoever
does it. Two bounds, the larger wins (bench/README.md, 'The floor'):

  latency floor = sum over the work's dependent steps of ceil(calls / concurrency) x latency
  rate floor    = max over API families of max(0, calls - burst) / rate

The work is bench/floor.json; the API families, their budgets and AWS's own rates come from
core/aws/services.h (BSUP_API_FAMILY_MAP), which operation draws from which family from
tools/gen_aws_model.py (OPERATIONS), and the concurrency from the HTTP engine's default
(daemon/http/engine.h), so the floor follows the code it judges."""
import importlib.util
import json
import math
import os
import re


def _load_generator(src):
    spec = importlib.util.spec_from_file_location(
        "gen_aws_model", os.path.join(src, "tools", "gen_aws_model.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Model:
    def __init__(self, src, rate_overrides=None, concurrency=None):
        gen = _load_generator(src)
        with open(os.path.join(src, "core", "aws", "services.h")) as f:
            text = f.read()
        unq = gen.unquote
        # service rows: ID, name, botocore dir, serviceId, endpointPrefix, signingName, proto
        self.signing = {r[1]: unq(r[5]) for r in gen.xmacro_rows(text, "BSUP_AWS_SERVICE_MAP")}
        self.families = {}
        for r in gen.xmacro_rows(text, "BSUP_API_FAMILY_MAP"):
            self.families[r[1]] = {"prefix": unq(r[2]), "burst": float(r[3]), "rate": float(r[4]),
                                   "aws_burst": float(r[5]), "aws_rate": float(r[6])}
        for name, (burst, rate) in (rate_overrides or {}).items():
            if name not in self.families:
                raise ValueError(f"rate_limits: no API family {name} "
                                 f"(families: {', '.join(self.families)})")
            if burst:
                self.families[name]["burst"] = float(burst)
            if rate:
                self.families[name]["rate"] = float(rate)
        # (signing name as the proxy counts it, action) -> family
        self.ops = {(self.signing.get(svc, svc), act): fam for svc, act, fam in gen.OPERATIONS}
        with open(os.path.join(src, "daemon", "http", "engine.h")) as f:
            m = re.search(r"#define BSUP_HTTP_DEFAULT_MAX_IN_FLIGHT_PER_HOST (\d+)", f.read())
        self.engine_concurrency = int(m.group(1)) if m else 8
        self.concurrency = concurrency or self.engine_concurrency
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "floor.json")) as f:
            self.work = json.load(f)

    def family_of(self, service, action):
        """The family a call (proxy service name, action) draws from: the generated operation
        table, else the service's describe or only family, else 'other' (as bsupd does)."""
        fam = self.ops.get((service, action))
        if fam:
            return fam
        mine = [n for n, f in self.families.items() if f["prefix"] == service]
        reading = action.startswith(("Describe", "List", "Get"))
        for n in mine:
            if n.endswith("_describe") == reading:
                return n
        return mine[0] if len(mine) == 1 else "other"

    def floor(self, n, cycle, latency_ms, concurrency=None, empty_groups=0):
        """The floor of one cycle ('cold' or 'warm') over n services, empty_groups of whose
        groups have no instances (their type comes from the launch template). Passing
        empty_groups=n gives the floor of reading every group's template."""
        conc = concurrency or self.concurrency
        units = {"service": n, "empty_group": empty_groups}
        calls, latency_s, per_family = {}, 0.0, {}
        for st in self.work["steps"]:
            if cycle not in st["cycles"]:
                continue
            k = math.ceil(units[st["unit"]] / st["per_call"])
            if not k:
                continue
            calls[st["action"]] = k
            latency_s += math.ceil(k / conc) * latency_ms / 1000.0
            fam = self.family_of(st["service"], st["action"])
            per_family[fam] = per_family.get(fam, 0) + k
        rate = {}
        for fam, k in per_family.items():
            f = self.families[fam]
            rate[fam] = {"calls": k, "burst": f["burst"], "rate": f["rate"],
                         "seconds": max(0.0, k - f["burst"]) / f["rate"]}
        rate_s = max([r["seconds"] for r in rate.values()] or [0.0])
        return {"calls": calls, "calls_total": sum(calls.values()), "latency_ms": latency_ms,
                "concurrency": conc, "latency_s": latency_s, "rate_s": rate_s,
                "rate_by_family": rate, "floor_s": max(latency_s, rate_s),
                "bound": "rate" if rate_s > latency_s else "latency"}

    def aws_bucket_rules(self):
        """Fault-proxy rules that throttle like AWS itself: one token bucket per API family
        whose AWS rate is published (services.h), over the actions the family covers."""
        rules = []
        for name, f in self.families.items():
            if not f["aws_burst"] or not f["aws_rate"] or not f["prefix"]:
                continue
            same_prefix = [n for n, g in self.families.items() if g["prefix"] == f["prefix"]]
            if name.endswith("_describe"):
                actions = ["Describe*", "List*", "Get*"]
            elif len(same_prefix) == 1:
                actions = ["*"]
            else:
                actions = sorted(a for (s, a), fam in self.ops.items() if fam == name)
            if actions:
                rules.append({"service": f["prefix"], "action": actions, "fault": "throttle",
                              "bucket": {"burst": f["aws_burst"], "rate": f["aws_rate"]},
                              "family": name})
        return rules
