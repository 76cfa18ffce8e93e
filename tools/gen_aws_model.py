#!/usr/bin/env python3
"""Generates the AWS model tables from botocore's service-2.json models.

The C tables are the subset of each service model that the codecs need: the output and input
shapes reachable from the operations listed below, plus each service's protocol metadata and
paging tokens. The services and API families come from core/aws/services.h (the one list the
C code derives from too); this file only adds which operations bsupd calls and which API
family each one draws from. Adding an operation is one row in OPERATIONS and a re-run.

Two tables, from the repository root:

    tools/gen_aws_model.py > core/aws/model_gen.c
        the operations bsupd calls (OPERATIONS): linked into the daemon.
    tools/gen_aws_model.py --tests --testdata DIR > tests/lib/model_test_gen.c
        every other operation with a captured response under DIR/aws-responses/<service>/,
        output shapes only, so the golden tests can check those files against the model:
        linked into the test programs only.

Each generated file records the botocore version and the exact command in its header;
tests/unit/test_model_gen.py re-runs that command and diffs. Python standard library only
(botocore is imported to find its data directory and version).
"""
import argparse
import glob
import gzip
import json
import os
import re
import shlex
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICES_H = "core/aws/services.h"
# Where the captured responses are today; the test-data move makes this tests/data.
DEFAULT_TESTDATA = "tests/data"

# The operations bsupd calls: (service, action, API family). Service and family are the
# names in core/aws/services.h (BSUP_AWS_SERVICE_MAP, BSUP_API_FAMILY_MAP).
OPERATIONS = [
    ("autoscaling", "DescribeAutoScalingGroups", "autoscaling_describe"),
    ("autoscaling", "UpdateAutoScalingGroup", "autoscaling_mutate"),
    ("autoscaling", "SetInstanceHealth", "autoscaling_mutate"),
    ("elbv2", "DescribeTargetGroups", "elbv2_describe"),
    ("elbv2", "DescribeTargetHealth", "elbv2_describe"),
    ("elbv2", "ModifyTargetGroup", "elbv2_mutate"),
    ("elbv2", "DescribeLoadBalancers", "elbv2_describe"),
    ("elbv2", "DescribeListeners", "elbv2_describe"),
    ("elbv2", "DescribeLoadBalancerAttributes", "elbv2_describe"),
    ("elbv2", "DescribeSSLPolicies", "elbv2_describe"),
    ("rds", "DescribeDBInstances", "rds"),
    ("rds", "DescribeDBSnapshots", "rds"),
    ("rds", "ModifyDBInstance", "rds"),
    ("elasticache", "DescribeReplicationGroups", "elasticache"),
    ("elasticache", "DescribeSnapshots", "elasticache"),
    ("cloudwatch", "PutMetricData", "cloudwatch_put_metric_data"),
    ("cloudwatch", "PutMetricAlarm", "cloudwatch_put_metric_alarm"),
    ("cloudwatch", "DescribeAlarms", "cloudwatch_describe_alarms"),
    ("cloudwatch", "DeleteAlarms", "cloudwatch_put_metric_alarm"),
    ("cloudwatch", "ListTagsForResource", "cloudwatch_describe_alarms"),
    ("cloudwatch", "GetMetricData", "cloudwatch_get_metric_data"),
    ("sns", "Publish", "sns"),
    ("sts", "GetCallerIdentity", "other"),
    ("sts", "AssumeRole", "other"),
    ("sts", "AssumeRoleWithWebIdentity", "other"),
    ("ec2", "DescribeLaunchTemplates", "ec2_describe"),
    ("ec2", "DescribeLaunchTemplateVersions", "ec2_describe"),
    ("secretsmanager", "GetSecretValue", "other"),
    ("ssm", "GetParameter", "other"),
    ("rds", "RestoreDBInstanceFromDBSnapshot", "rds"),
    ("rds", "DeleteDBInstance", "rds"),
    ("secretsmanager", "DescribeSecret", "other"),
    ("ssm", "DescribeParameters", "other"),
]

TYPES = {"structure": "STRUCTURE", "list": "LIST", "map": "MAP", "string": "STRING",
         "integer": "INTEGER", "long": "LONG", "boolean": "BOOLEAN", "float": "FLOAT",
         "double": "DOUBLE", "timestamp": "TIMESTAMP", "blob": "BLOB"}


def xmacro_rows(text, name):
    """The XX(...) rows of '#define name(XX)' as lists of stripped arguments."""
    m = re.search(r"^#define " + name + r"\(XX\)[^\n]*\\\n((?:[^\n]*\\\n)*[^\n]*\n)", text, re.M)
    if not m:
        sys.exit(f"{SERVICES_H}: no #define {name}(XX)")
    rows = []
    body = m.group(1).replace("\\\n", " ")  # a row may span lines
    for call in re.findall(r'XX\(((?:"(?:[^"\\]|\\.)*"|[^()"])*)\)', body):
        rows.append([a.strip() for a in re.findall(r'(?:"(?:[^"\\]|\\.)*"|[^,"])+', call)])
    return rows


def unquote(s):
    if not (s.startswith('"') and s.endswith('"')):
        sys.exit(f"{SERVICES_H}: expected a string, got {s}")
    return s[1:-1]


def read_services_h():
    with open(os.path.join(ROOT, SERVICES_H)) as f:
        text = f.read()
    services = []  # (ENUM id, name, botocore dir, serviceId, endpointPrefix, signingName, proto)
    for r in xmacro_rows(text, "BSUP_AWS_SERVICE_MAP"):
        services.append((r[0], r[1], unquote(r[2]), unquote(r[3]), unquote(r[4]),
                         unquote(r[5]), r[6]))
    families = {r[1]: r[0] for r in xmacro_rows(text, "BSUP_API_FAMILY_MAP")}  # name -> ID
    if not services or "other" not in families:
        sys.exit(f"{SERVICES_H}: cannot read the service and family lists")
    return services, families


def load_model(root, name):
    versions = sorted(os.listdir(os.path.join(root, name)))
    for v in reversed(versions):
        path = os.path.join(root, name, v, "service-2.json.gz")
        if os.path.exists(path):
            with gzip.open(path) as f:
                model = json.load(f)
            pag = {}
            ppath = os.path.join(root, name, v, "paginators-1.json")
            if os.path.exists(ppath):
                with open(ppath) as f:
                    pag = json.load(f).get("pagination", {})
            return model, pag
    sys.exit(f"no model for {name}")


def cstr(s):
    if s is None:
        return "NULL"
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def token(v):
    """A paginator token: the first name when botocore lists several; None for expressions."""
    if isinstance(v, list):
        v = v[0]
    if v is None or not re.fullmatch(r"[A-Za-z0-9_.]+", v):
        return None
    return v


def action_from_file(model, fname):
    base = os.path.basename(fname)[:-4]
    words = base.split("-")[1:]
    key = "".join(words).lower()
    for op in model["operations"]:
        if op.lower() == key:
            return op
    return None


def emit_shapes(w, out, prefix, name, model, ops):
    """Writes the shapes and members reachable from ops [(action, with_input)]; returns the
    model initializer and {action: (input index, output index)}."""
    shapes = model["shapes"]
    index = {}
    order = []

    def visit(shape):
        if shape in index:
            return
        index[shape] = len(order)
        order.append(shape)
        s = shapes[shape]
        t = s["type"]
        if t == "structure":
            for m in s.get("members", {}).values():
                visit(m["shape"])
        elif t == "list":
            visit(s["member"]["shape"])
        elif t == "map":
            visit(s["key"]["shape"])
            visit(s["value"]["shape"])

    for op, with_input in ops:
        o = model["operations"][op]
        if "output" in o:
            visit(o["output"]["shape"])
        if with_input and "input" in o:
            visit(o["input"]["shape"])
    members = []
    shape_rows = []
    for shape in order:
        s = shapes[shape]
        t = s["type"]
        if t not in TYPES:
            sys.exit(f"{name}: shape {shape} has unsupported type {t}")
        first = len(members)
        if t == "structure":
            mlist = list(s.get("members", {}).items())
        elif t == "list":
            mlist = [("member", s["member"])]
        elif t == "map":
            mlist = [("key", s["key"]), ("value", s["value"])]
        else:
            mlist = []
        for mn, m in mlist:
            flags = []
            if m.get("xmlAttribute"):
                flags.append("BSUP_SHAPE_F_ATTRIBUTE")
            if m.get("location") in ("header", "headers", "statusCode", "uri", "querystring"):
                flags.append("BSUP_SHAPE_F_NOT_BODY")
            if m.get("flattened"):
                flags.append("BSUP_SHAPE_F_FLATTENED")
            if m.get("idempotencyToken"):
                flags.append("BSUP_SHAPE_F_IDEMPOTENCY")
            members.append("    {%s, %s, %s, %d, %s}," % (
                cstr(mn), cstr(m.get("locationName")), cstr(m.get("queryName")),
                index[m["shape"]], " | ".join(flags) or "0"))
        sflags = []
        if s.get("flattened"):
            sflags.append("BSUP_SHAPE_F_FLATTENED")
        if s.get("document"):
            sflags.append("BSUP_SHAPE_F_DOCUMENT")
        if s.get("sensitive"):
            sflags.append("BSUP_SHAPE_F_SENSITIVE")
        shape_rows.append("    {%s, BSUP_SHAPE_%s, %s, %d, %d, %s}," % (
            cstr(shape), TYPES[t], " | ".join(sflags) or "0", first, len(mlist),
            cstr(s.get("timestampFormat"))))
    w(f"static const struct bsup_shape {prefix}_shapes[] = {{")
    out.extend(shape_rows)
    w("};")
    w("")
    if members:
        w(f"static const struct bsup_shape_member {prefix}_members[] = {{")
        out.extend(members)
        w("};")
    else:
        w(f"static const struct bsup_shape_member {prefix}_members[1];")
    w("")
    shape_ix = {}
    for op, with_input in ops:
        o = model["operations"][op]
        inp, outp = o.get("input"), o.get("output")
        shape_ix[op] = (index[inp["shape"]] if with_input and inp else -1,
                        index[outp["shape"]] if outp else -1)
    init = "{%s_shapes, %d, %s_members, %d}" % (prefix, len(order), prefix, len(members))
    return init, shape_ix


def op_row(sid, op, family, model_ref, model, pag, shape_ix, called):
    o = model["operations"][op]
    outp = o.get("output", {})
    p = pag.get(op, {})
    return "    {BSUP_AWS_%s, %s, BSUP_API_%s, %s, %d, %d, %s, %s, %s, %s}," % (
        sid, cstr(op), family, model_ref, shape_ix[op][0], shape_ix[op][1],
        cstr(outp.get("resultWrapper")), cstr(token(p.get("input_token"))),
        cstr(token(p.get("output_token"))), "true" if called else "false")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--botocore", help="botocore's data directory (default: the installed one)")
    ap.add_argument("--tests", action="store_true",
                    help="write the golden-test table (tests/lib/model_test_gen.c) instead")
    ap.add_argument("--testdata", default=DEFAULT_TESTDATA,
                    help="with --tests: the directory holding aws-responses/ (relative to the "
                         "repository root; default %(default)s)")
    args = ap.parse_args()
    try:
        import botocore  # only for its data directory and version; the models are plain JSON
        version = botocore.__version__
        data = os.path.join(os.path.dirname(botocore.__file__), "data")
    except ImportError:
        if not args.botocore:
            sys.exit("botocore is not importable: pass --botocore DIR")
        version, data = "unknown", None
    data = args.botocore or data

    services, families = read_services_h()
    by_name = {s[1]: s for s in services}
    models = {}
    for sid, name, bname, service_id, prefix, signing, proto in services:
        model, pag = load_model(data, bname)
        meta = model["metadata"]
        got = (meta.get("serviceId"), meta["endpointPrefix"],
               meta.get("signingName") or meta["endpointPrefix"])
        if got != (service_id, prefix, signing):
            sys.exit(f"{SERVICES_H}: {name} says {(service_id, prefix, signing)}, "
                     f"botocore says {got}")
        models[name] = (model, pag)

    called = {s[1]: {} for s in services}  # name -> {action: family ID}
    for name, op, family in OPERATIONS:
        if name not in by_name or family not in families:
            sys.exit(f"OPERATIONS: unknown service or family in {(name, op, family)}")
        if op not in models[name][0]["operations"]:
            sys.exit(f"OPERATIONS: botocore has no {name} {op}")
        called[name][op] = families[family]

    wanted = {s[1]: {} for s in services}  # name -> {action: (family ID, with input)}
    if args.tests:
        tdir = os.path.join(ROOT, args.testdata, "aws-responses")
        if not os.path.isdir(tdir):
            sys.exit(f"{tdir}: no such directory (--testdata)")
        for name in by_name:
            for f in sorted(glob.glob(os.path.join(tdir, name, "*.xml"))):
                op = action_from_file(models[name][0], f)
                if op is None:
                    sys.exit(f"cannot map {f} to an operation")
                if op not in called[name]:
                    wanted[name][op] = ("OTHER", False)  # never called: no budget
        target = "tests/lib/model_test_gen.c"
    else:
        for name in by_name:
            wanted[name] = {op: (fam, True) for op, fam in called[name].items()}
        target = "core/aws/model_gen.c"

    out = []
    w = out.append
    command = " ".join(["tools/gen_aws_model.py"] + [shlex.quote(a) for a in sys.argv[1:]])
    w("/* Generated by tools/gen_aws_model.py; do not edit. Inputs: botocore "
      f"{version}'s service models,")
    w(f" * {SERVICES_H} and the generator's OPERATIONS. Regenerate from the repository root")
    w(" * (tests/unit/test_model_gen.py checks that this file is what the command writes):")
    w(f" *   {command} > {target}")
    w(" */")
    w("/* clang-format off */")
    w('#include "tests/lib/model_test.h"' if args.tests else '#include "core/aws/model.h"')
    w("")
    w("#include <stddef.h>")
    w("")
    service_rows = []
    op_rows = []
    for sid, name, bname, service_id, prefix, signing, proto in services:
        model, pag = models[name]
        ops = sorted(wanted[name].items())
        if args.tests and not ops:
            continue
        init, shape_ix = emit_shapes(w, out, f"s_{name}", name, model,
                                     [(op, v[1]) for op, v in ops])
        if args.tests:
            w(f"static const struct bsup_shape_model s_{name}_model = {init};")
            w("")
            model_ref = f"&s_{name}_model"
        else:
            meta = model["metadata"]
            service_rows.append("    [BSUP_AWS_%s] = {%s, %s, %s, BSUP_AWS_PROTO_%s, %s, %s, %s, %s}," % (
                sid, cstr(name), cstr(prefix), cstr(signing), proto, cstr(meta["apiVersion"]),
                cstr(meta.get("targetPrefix") if proto == "JSON" else None),
                cstr(meta.get("jsonVersion") if proto == "JSON" else None), init))
            model_ref = f"&bsup_aws_services[BSUP_AWS_{sid}].model"
        for op, (family, with_input) in ops:
            op_rows.append(op_row(sid, op, family, model_ref, model, pag, shape_ix, with_input))
    if args.tests:
        w("const struct bsup_aws_operation bsup_test_aws_operations[] = {")
        out.extend(op_rows)
        w("};")
        w("const size_t bsup_test_aws_n_operations =")
        w("    sizeof(bsup_test_aws_operations) / sizeof(bsup_test_aws_operations[0]);")
    else:
        w("const struct bsup_aws_service bsup_aws_services[BSUP_AWS_SERVICE_COUNT] = {")
        out.extend(service_rows)
        w("};")
        w("")
        w("const struct bsup_aws_operation bsup_aws_operations[] = {")
        out.extend(op_rows)
        w("};")
        w("const size_t bsup_aws_n_operations = sizeof(bsup_aws_operations) / sizeof(bsup_aws_operations[0]);")
    print("\n".join(out))


if __name__ == "__main__":
    main()
