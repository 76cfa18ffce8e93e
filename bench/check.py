#!/usr/bin/env python3
"""The bench's regression check (ctest bench/check, labels unit and bench-check; no AWS, no
bsupd): the AWS calls per service in the committed figures (bench/results/latest.json) must
not exceed bench/thresholds.json. It measures nothing: it judges the last committed run of
scripts/bench, so a change that adds per-service calls fails here once someone re-runs the
bench and commits its figures.

    bench/check.py [--figures FILE] [--thresholds FILE]    exit 0 ok, 1 over a threshold
    bench/check.py --self-test                             the check's own table of cases
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LABELS = {"cold": "cold cycle (bsupd --once, fresh state)",
          "warm": "warm cycle (the daemon's second reconcile)"}


def evaluate(figures, thresholds):
    """(lines, failures): one line per threshold; failures counts the broken ones. A
    threshold marked required fails when its figure is missing; others are skipped."""
    by_n = {s.get("n"): s for s in figures.get("sizes") or []}
    lines, failures = [], 0
    for t in thresholds.get("calls_per_service") or []:
        what = f"{LABELS.get(t['cycle'], t['cycle'])}, {t['n']} services"
        row = (by_n.get(t["n"]) or {}).get(t["cycle"]) or {}
        calls = row.get("calls_total")
        if calls is None or row.get("error"):
            why = row.get("error") or "not in the figures"
            if t.get("required"):
                failures += 1
                lines.append(f"FAIL {what}: no figure ({why}); this threshold is required: "
                             f"run scripts/bench with --sizes including {t['n']}")
            else:
                lines.append(f"skip {what}: not measured in the committed figures")
            continue
        per = calls / t["n"]
        stated = row.get("calls_per_service")
        if stated is not None and abs(stated - per) > 1e-9:
            failures += 1
            lines.append(f"FAIL {what}: calls_per_service {stated} disagrees with "
                         f"calls_total/n = {per:.4f}: the figures file was edited by hand")
            continue
        by = ", ".join(f"{k} {v}" for k, v in sorted((row.get("calls") or {}).items()))
        if per > t["max"] + 1e-9:
            failures += 1
            lines.append(f"FAIL {what}: {per:.3f} AWS calls per service > {t['max']} allowed "
                         f"({calls} calls: {by})")
        else:
            lines.append(f"ok   {what}: {per:.3f} AWS calls per service <= {t['max']} "
                         f"({calls} calls: {by})")
    return lines, failures


def self_test():
    th = {"calls_per_service": [{"cycle": "cold", "n": 100, "max": 1.3, "required": True},
                                {"cycle": "warm", "n": 1000, "max": 1.05}]}
    fig = lambda cold_calls: {"sizes": [{"n": 100, "cold": {"calls_total": cold_calls}}]}  # noqa
    cases = [  # (figures, failures expected, words expected in the output)
        (fig(101), 0, ["ok   cold", "1.010", "skip warm"]),
        (fig(130), 0, ["ok   cold"]),
        (fig(131), 1, ["FAIL cold", "1.310", "> 1.3"]),
        ({"sizes": []}, 1, ["FAIL cold", "required"]),
        ({"sizes": [{"n": 100, "cold": {"calls_total": 101, "calls_per_service": 0.5}}]}, 1,
         ["edited by hand"]),
        ({"sizes": [{"n": 100, "cold": {"calls_total": 5, "error": "exited 2"}}]}, 1,
         ["exited 2"]),
    ]
    bad = 0
    for i, (f, want, words) in enumerate(cases):
        lines, failures = evaluate(f, th)
        text = "\n".join(lines)
        if failures != want or not all(w in text for w in words):
            bad += 1
            print(f"self-test case {i}: failures {failures} (want {want}), output:\n{text}")
    print(f"self-test: {len(cases) - bad}/{len(cases)} cases pass")
    return bad == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--figures", default=os.path.join(HERE, "results", "latest.json"))
    ap.add_argument("--thresholds", default=os.path.join(HERE, "thresholds.json"))
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        return 0 if self_test() else 1
    if not self_test():
        return 1
    try:
        with open(args.figures) as f:
            figures = json.load(f)
        with open(args.thresholds) as f:
            thresholds = json.load(f)
    except (OSError, ValueError) as e:
        print(f"FAIL cannot read the figures or thresholds: {e}")
        return 1
    m = figures.get("machine") or {}
    print(f"bench-check: the AWS calls per service in {os.path.relpath(args.figures)} "
          f"(scripts/bench of {figures.get('date')}, bsup {(m.get('git') or {}).get('commit')}"
          f"{', quick run' if figures.get('quick') else ''}) against "
          f"{os.path.relpath(args.thresholds)}.")
    lines, failures = evaluate(figures, thresholds)
    print("\n".join(lines))
    if failures:
        print(f"\n{failures} figure(s) over their threshold. These are the figures committed by "
              "the last scripts/bench run, not a new measurement: the run they come from made "
              "more AWS calls per service than allowed. Either the change that made them adds "
              "per-service calls (fix it: every call per service is a call per service per "
              "cycle against the account's shared API budget), or the increase is intended: "
              "then raise the number in bench/thresholds.json in the same commit and say why.")
        return 1
    print("\nall calls-per-service figures within their thresholds (this judges the committed "
          "figures; re-run scripts/bench and commit bench/results/ to judge a new change)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
