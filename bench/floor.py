"""The floor of a reconcile cycle: the least time the AWS work a measured cycle did can take,
whoever does it. From the row's calls by action and the APIs' batch limits (bench/floor.json):
the resources the calls covered, and the fewest calls that cover them. Two bounds on those
calls, the larger wins (bench/README.md, 'The floor'):

  latency floor = max(ceil(calls / concurrency), longest chain of dependent steps) x latency
  rate floor    = max over API families of max(0, calls - tokens at start) / rate

The limits are bench/floor.json; bsupd's batch per step comes from core/reconcile/*.c
(s_steps); the API families, their budgets and AWS's own rates come from
core/aws/services.h (BSUP_API_FAMILY_MAP), which operation draws from which family from
tools/gen_aws_model.py (OPERATIONS), and the concurrency from the HTTP engine's default
(daemon/http/engine.h), so the floor follows the code it judges."""
import importlib.util
import json
import math
import os
import re

# tokens_left: bsupd takes a token at most this long before the proxy logs the call
FULL_MARGIN_S = 0.2


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
        self.batches = self._bsupd_batches(src)

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

    def _bsupd_batches(self, src):
        """bsupd's keys per call of each observing step, from the s_steps tables in
        core/reconcile/*.c: (proxy service name, action) -> batch_max. An entry whose
        batch_max is not a plain number (e.g. 100 / BSUP_ALARM_COUNT) is left out: the floor
        then takes the API's limit as bsupd's batch (it may overcount a partial read)."""
        out = {}
        d = os.path.join(src, "core", "reconcile")
        step = re.compile(r'\.service\s*=\s*"(\w+)",\s*\.action\s*=\s*"(\w+)",\s*'
                          r'\.batch_max\s*=\s*([^,]+),')
        for name in sorted(os.listdir(d)):
            if not name.endswith(".c"):
                continue
            with open(os.path.join(d, name)) as f:
                for svc, act, expr in step.findall(f.read()):
                    if expr.strip().isdigit():
                        out[(self.signing.get(svc, svc), act)] = int(expr)
        return out

    def floor(self, n, calls, latency_ms, concurrency=None, start_tokens=None):
        """The floor of one measured cycle over n services. calls: the row's calls by
        "service:action" (the proxy's names). Per action: the resources those calls covered
        (calls x bsupd's batch, at most n x per_service), and the fewest calls the API's
        limit allows for them; an action with no limit is charged as made. start_tokens:
        {family: tokens bsupd's bucket can hold at most when the cycle starts} (default: a
        full burst). latency floor = max(ceil(calls / concurrency), the longest chain of
        dependent steps) x latency; rate floor = max over families of
        max(0, calls - tokens at start) / rate."""
        conc = concurrency or self.concurrency
        limits = self.work["limits"]
        floor_calls, as_made, covered = {}, {}, {}
        for key, made in sorted((calls or {}).items()):
            if not made:
                continue
            lim = limits.get(key)
            if not lim:
                floor_calls[key] = as_made[key] = made
                continue
            svc, act = key.split(":", 1)
            per_call, per_svc = lim["per_call"], lim.get("per_service", 1)
            b = None if lim.get("listing") else self.batches.get((svc, act))
            keys_read = made * (b * per_svc if b else per_call)
            res = min(n * per_svc, keys_read)
            covered[key] = res
            floor_calls[key] = math.ceil(res / per_call)

        def depth(key, seen=()):
            after = (limits.get(key) or {}).get("after")
            if not after or after in seen or after not in floor_calls:
                return 1
            return 1 + depth(after, seen + (key,))
        total = sum(floor_calls.values())
        chain = max([depth(k) for k in floor_calls] or [0])
        rounds = max(math.ceil(total / conc), chain)
        latency_s = rounds * latency_ms / 1000.0
        per_family = {}
        for key, k in floor_calls.items():
            fam = self.family_of(*key.split(":", 1))
            per_family[fam] = per_family.get(fam, 0) + k
        rate = {}
        for fam, k in per_family.items():
            f = self.families[fam]
            tokens = f["burst"] if start_tokens is None else \
                min(f["burst"], start_tokens.get(fam, f["burst"]))
            rate[fam] = {"calls": k, "burst": f["burst"], "rate": f["rate"],
                         "tokens_at_start": tokens,
                         "seconds": max(0.0, k - tokens) / f["rate"]}
        rate_s = max([r["seconds"] for r in rate.values()] or [0.0])
        return {"calls": floor_calls, "calls_total": total, "resources": covered,
                "as_made": as_made, "latency_ms": latency_ms, "concurrency": conc,
                "rounds": rounds, "chain": chain, "latency_s": latency_s, "rate_s": rate_s,
                "rate_by_family": rate, "floor_s": max(latency_s, rate_s),
                "bound": "rate" if rate_s > latency_s else "latency"}

    def tokens_left(self, calls, seconds, first_after_s=None):
        """At most how many tokens each family's bucket holds `seconds` after bsupd started
        with full buckets, having made `calls` ({"service:action": k}) meanwhile:
        min(burst, burst + rate x (seconds - full) - calls), never below 0, where full is how
        long the bucket stayed full from the start: until the family's first call
        (first_after_s: {"service:action": seconds after the start}, less FULL_MARGIN_S for the
        way from bsupd's bucket to the proxy's clock), as a full bucket gains nothing. An upper
        bound (calls not counted, and other stretches at the brim, only lower it), so a floor
        taken from it stays a floor."""
        used, full = {}, {}
        for key, k in (calls or {}).items():
            fam = self.family_of(*key.split(":", 1))
            used[fam] = used.get(fam, 0) + k
        for key, t in (first_after_s or {}).items():
            fam = self.family_of(*key.split(":", 1))
            t = max(0.0, t - FULL_MARGIN_S)
            full[fam] = min(full.get(fam, t), t)
        return {fam: max(0.0, min(f["burst"], f["burst"] - used.get(fam, 0) +
                                  f["rate"] * max(0.0, seconds - full.get(fam, 0.0))))
                for fam, f in self.families.items()}

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
