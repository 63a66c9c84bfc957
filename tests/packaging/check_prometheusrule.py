#!/usr/bin/env python3
"""Checks that deploy/kubernetes/prometheusrule.yaml holds exactly the rules of
deploy/prometheus/alerts.yml, and that those rules load in promtool.

    check_prometheusrule.py SOURCE_DIR

The comparison is textual (Python's standard library has no YAML parser): the `groups:` block
under `spec:`, de-indented by two spaces, must equal alerts.yml from its `groups:` line on.
`promtool check rules` on that block then parses it as real YAML and every expression as PromQL.
"""
import difflib
import os
import shutil
import subprocess
import sys
import tempfile

REGENERATE = "deploy/kubernetes/generate-prometheusrule.sh"


def fail(message):
    print(f"check_prometheusrule: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def groups_of_alerts(path):
    lines = open(path, encoding="utf-8").read().splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\n") == "groups:"]
    if len(starts) != 1:
        fail(f"{path}: expected exactly one top-level 'groups:' line, found {len(starts)}")
    return lines[starts[0]:]


def groups_of_rule(path):
    lines = open(path, encoding="utf-8").read().splitlines(keepends=True)
    header = [line.rstrip("\n") for line in lines if line.strip() and not line.startswith("#")]
    for expected in ("apiVersion: monitoring.coreos.com/v1", "kind: PrometheusRule", "spec:"):
        if expected not in header:
            fail(f"{path}: no top-level line '{expected}'")
    starts = [i for i, line in enumerate(lines) if line.rstrip("\n") == "  groups:"]
    if len(starts) != 1 or lines[starts[0] - 1].rstrip("\n") != "spec:":
        fail(f"{path}: expected 'spec:' followed by one '  groups:' line")
    # groups must be the last key of spec, so that everything after it belongs to it.
    block = []
    for number, line in enumerate(lines[starts[0]:], start=starts[0] + 1):
        if line.strip() == "":
            block.append(line.lstrip(" "))
        elif line.startswith("  "):
            block.append(line[2:])
        else:
            fail(f"{path}:{number}: line after spec.groups is not indented under it: {line!r}")
    return block


def main():
    if len(sys.argv) != 2:
        fail("usage: check_prometheusrule.py SOURCE_DIR")
    source = sys.argv[1]
    alerts_path = os.path.join(source, "deploy/prometheus/alerts.yml")
    rule_path = os.path.join(source, "deploy/kubernetes/prometheusrule.yaml")

    expected = groups_of_alerts(alerts_path)
    actual = groups_of_rule(rule_path)
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected, actual, "alerts.yml (groups)",
                                            "prometheusrule.yaml (spec.groups, de-indented)"))
        fail(f"{rule_path} is out of date with {alerts_path}; run {REGENERATE}\n{diff}")

    promtool = shutil.which("promtool")
    if promtool is None:
        fail("promtool not found (Debian package: prometheus)")
    with tempfile.NamedTemporaryFile("w", suffix=".yml", encoding="utf-8") as extracted:
        extracted.writelines(actual)
        extracted.flush()
        result = subprocess.run([promtool, "check", "rules", extracted.name],
                                capture_output=True, text=True, check=False)
    if result.returncode != 0:
        fail(f"promtool check rules on spec.groups of {rule_path}:\n{result.stdout}{result.stderr}")

    groups = sum(1 for line in actual if line.startswith("  - name:"))
    rules = sum(1 for line in actual if line.lstrip().startswith(("- alert:", "- record:")))
    print(f"check_prometheusrule: {rule_path} matches alerts.yml ({groups} group(s), {rules} "
          "rules) and passes promtool check rules")


if __name__ == "__main__":
    main()
