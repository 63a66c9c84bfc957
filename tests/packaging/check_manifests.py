#!/usr/bin/env python3
"""Parses every manifest in deploy/kubernetes/ and checks that they fit together and keep the
promises of deploy/README.md: pids resolve (hostPID), the exporter runs unprivileged and read-only,
probes and the Service reach port 10180, the ServiceMonitor sets job="heartbeat" for the alerts,
and the ConfigMap holds a config that heartbeat_exporter accepts.

    check_manifests.py SOURCE_DIR HEARTBEATCTL_BINARY
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import yaml_subset  # noqa: E402

PORT = 10180
CONFIG_DIR = "/etc/heartbeat_exporter"
HEARTBEAT_DIR = "/var/lib/heartbeats"

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


def dig(value, *path):
    for step in path:
        if isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list) and isinstance(step, int) and step < len(value):
            value = value[step]
        else:
            return None
    return value


def load_manifests(source):
    manifests = {}
    paths = sorted(glob.glob(os.path.join(source, "deploy/kubernetes/*.yaml")))
    check(len(paths) == 5, f"expected 5 manifests in deploy/kubernetes, found {len(paths)}")
    for path in paths:
        try:
            documents = yaml_subset.load_all(open(path, encoding="utf-8").read(), path)
        except yaml_subset.YamlError as error:
            failures.append(f"parsing {error}")
            continue
        for document in documents:
            kind = dig(document, "kind")
            for field in ("apiVersion", "kind"):
                check(isinstance(dig(document, field), str), f"{path}: no {field}")
            check(isinstance(dig(document, "metadata", "name"), str), f"{path}: no metadata.name")
            check(kind not in manifests, f"{path}: a second {kind}")
            manifests[kind] = document
    return manifests


def matches(selector, labels):
    return bool(selector) and all(dig(labels, k) == v for k, v in selector.items())


def check_daemonset(daemonset, configmap):
    check(dig(daemonset, "apiVersion") == "apps/v1", "DaemonSet: apiVersion is not apps/v1")
    pod = dig(daemonset, "spec", "template")
    spec = dig(pod, "spec") or {}
    check(matches(dig(daemonset, "spec", "selector", "matchLabels"), dig(pod, "metadata", "labels")),
          "DaemonSet: spec.selector.matchLabels does not select the pod template's labels")
    check(spec.get("hostPID") is True, "DaemonSet: hostPID is not true (pids would not resolve)")
    check(dig(spec, "securityContext", "runAsNonRoot") is True, "DaemonSet: runAsNonRoot is not true")
    check(dig(spec, "securityContext", "runAsUser") == 65534, "DaemonSet: runAsUser is not 65534")

    containers = spec.get("containers") or []
    if not check(len(containers) == 1, "DaemonSet: expected exactly one container"):
        return
    container = containers[0]
    security = container.get("securityContext") or {}
    check(security.get("readOnlyRootFilesystem") is True, "container: readOnlyRootFilesystem is not true")
    check(security.get("allowPrivilegeEscalation") is False,
          "container: allowPrivilegeEscalation is not false")
    check(dig(security, "capabilities", "drop") == ["ALL"], "container: capabilities.drop is not [ALL]")
    for bound in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            check(dig(container, "resources", bound, resource) is not None,
                  f"container: no resources.{bound}.{resource}")

    ports = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}
    check(ports.get("http") == PORT, f"container: port 'http' is not {PORT}")
    for probe, path in (("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready")):
        get = dig(container, probe, "httpGet") or {}
        check(get.get("path") == path, f"container: {probe} path is not {path}")
        check(ports.get(get.get("port"), get.get("port")) == PORT,
              f"container: {probe} does not reach port {PORT}")

    config_file = f"{CONFIG_DIR}/config.json"
    check(f"--config.file={config_file}" in (container.get("args") or []),
          f"container: args do not pass --config.file={config_file}")
    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    mounts = {m.get("mountPath"): m for m in container.get("volumeMounts") or []}
    config_mount = mounts.get(CONFIG_DIR) or {}
    check(dig(volumes, config_mount.get("name"), "configMap", "name") == dig(configmap, "metadata", "name"),
          f"DaemonSet: {CONFIG_DIR} is not the ConfigMap's volume")
    heartbeat_mount = mounts.get(HEARTBEAT_DIR) or {}
    check(heartbeat_mount.get("readOnly") is True, f"DaemonSet: {HEARTBEAT_DIR} is not mounted read-only")
    check(dig(volumes, heartbeat_mount.get("name"), "hostPath", "path") == HEARTBEAT_DIR,
          f"DaemonSet: {HEARTBEAT_DIR} is not the node's {HEARTBEAT_DIR} (hostPath)")


def check_config(configmap, heartbeatctl):
    text = dig(configmap, "data", "config.json")
    if not check(isinstance(text, str), "ConfigMap: no data.config.json"):
        return
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        failures.append(f"ConfigMap: data.config.json is not JSON: {error}")
        return
    paths = [p.get("heartbeat_path") for p in (config.get("processes") or {}).values()]
    paths += [d.get("path") for d in config.get("heartbeat_dirs") or []]
    for path in paths:
        check(isinstance(path, str) and path.startswith(HEARTBEAT_DIR),
              f"ConfigMap: {path!r} is outside the mounted {HEARTBEAT_DIR}")
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        result = subprocess.run([heartbeatctl, "check", "--config.file", file.name],
                                capture_output=True, text=True, check=False)
    # 0 and 1 are verdicts about the processes; 2 is a rejected config.
    check(result.returncode in (0, 1),
          f"ConfigMap: heartbeatctl check rejects data.config.json (exit {result.returncode}): "
          f"{result.stderr.strip()}")


def check_service(service, daemonset):
    pod_labels = dig(daemonset, "spec", "template", "metadata", "labels")
    check(matches(dig(service, "spec", "selector"), pod_labels),
          "Service: spec.selector does not select the DaemonSet's pods")
    check(dig(service, "spec", "clusterIP") == "None", "Service: not headless (clusterIP: None)")
    ports = dig(service, "spec", "ports") or []
    check(any(p.get("name") == "http" and p.get("port") == PORT and p.get("targetPort") == "http"
              for p in ports), f"Service: no port 'http' {PORT} -> targetPort http")


def check_servicemonitor(monitor, service):
    check(dig(monitor, "apiVersion") == "monitoring.coreos.com/v1", "ServiceMonitor: wrong apiVersion")
    check(matches(dig(monitor, "spec", "selector", "matchLabels"), dig(service, "metadata", "labels")),
          "ServiceMonitor: spec.selector does not select the Service")
    endpoint = dig(monitor, "spec", "endpoints", 0) or {}
    check(endpoint.get("port") == "http", "ServiceMonitor: endpoint port is not the Service's 'http'")
    job = [r for r in endpoint.get("relabelings") or [] if r.get("targetLabel") == "job"]
    check(len(job) == 1 and job[0].get("replacement") == "heartbeat" and not job[0].get("sourceLabels")
          and job[0].get("action", "replace") == "replace",
          "ServiceMonitor: no relabeling that sets job to 'heartbeat' (the alerts match job=\"heartbeat\")")


def check_prometheusrule(rule):
    check(dig(rule, "apiVersion") == "monitoring.coreos.com/v1", "PrometheusRule: wrong apiVersion")
    alerts = [r.get("alert") for g in dig(rule, "spec", "groups") or [] for r in g.get("rules") or []]
    check(alerts and all(alerts), "PrometheusRule: no alerting rules in spec.groups")


def main():
    if len(sys.argv) != 3:
        print("usage: check_manifests.py SOURCE_DIR HEARTBEATCTL_BINARY", file=sys.stderr)
        sys.exit(2)
    source, heartbeatctl = sys.argv[1], sys.argv[2]
    manifests = load_manifests(source)
    kinds = ("DaemonSet", "ConfigMap", "Service", "ServiceMonitor", "PrometheusRule")
    missing = [kind for kind in kinds if kind not in manifests]
    check(not missing, f"missing manifests: {', '.join(missing)}")
    get = manifests.get
    if get("DaemonSet") and get("ConfigMap"):
        check_daemonset(get("DaemonSet"), get("ConfigMap"))
    if get("ConfigMap"):
        check_config(get("ConfigMap"), heartbeatctl)
    if get("Service") and get("DaemonSet"):
        check_service(get("Service"), get("DaemonSet"))
    if get("ServiceMonitor") and get("Service"):
        check_servicemonitor(get("ServiceMonitor"), get("Service"))
    if get("PrometheusRule"):
        check_prometheusrule(get("PrometheusRule"))
    if failures:
        for failure in failures:
            print(f"check_manifests: FAIL: {failure}", file=sys.stderr)
        sys.exit(1)
    print(f"check_manifests: {len(manifests)} manifests parse and fit together")


if __name__ == "__main__":
    main()
