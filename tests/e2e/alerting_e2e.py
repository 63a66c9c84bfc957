#!/usr/bin/env python3
"""End-to-end alerting test with a real Prometheus and Alertmanager.

Starts Alertmanager, heartbeat_exporter and Prometheus on free loopback ports, with Prometheus
loading the shipped deploy/prometheus/alerts.yml. A shell loop beats with heartbeatctl until it
is killed; the test then waits for HeartbeatProcessDead to fire in Prometheus and to reach
Alertmanager. Before that, a job run with `heartbeatctl run` succeeds and then fails with exit
code 3, and HeartbeatJobFailed must fire for it; and a job scheduled every minute with 5 s of
grace beats once and misses its next run, and HeartbeatJobMissed must fire for it, naming its
schedule. On the way it evaluates every PromQL expression of dashboards/heartbeat.json against
that Prometheus and checks that each one returns data (the job panels' for the job).

Python standard library only. Exit status 0 on success, 1 on failure.
"""

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from processes import die_with_parent, free_port  # noqa: E402

STATES = ["healthy", "timed_out", "no_heartbeat", "stale_pid", "error_status"]
PROCESS = "worker"
# A job run with `heartbeatctl run`: once successfully, then failing with exit code 3.
JOB_PROCESS = "nightly"
JOB_EXIT_CODE = 3
# Only jobs have these series, so the dashboard queries that use them are asked about the job.
JOB_METRICS = {"heartbeat_exit_code", "heartbeat_last_run_duration_seconds",
               "heartbeat_last_success_timestamp_seconds", "heartbeat_deadline_timestamp_seconds"}
JOB = "heartbeat"
# A job due every minute with 5 s of grace: its one heartbeat is overdue within 65 s.
SCHEDULED = "nightly_report"
SCHEDULE = "* * * * *"
GRACE_SECONDS = 5

# Every wait is bounded; generous because CI runs this beside the unit tests on two cores.
START_TIMEOUT = 60
HEALTHY_TIMEOUT = 60
DASHBOARD_TIMEOUT = 60
STALE_TIMEOUT = 30
FIRING_TIMEOUT = 150  # after the kill; the rule's `for: 1m` is most of it
JOB_MISSED_TIMEOUT = 150  # after the job's heartbeat; the next minute plus grace is most of it
ALERTMANAGER_TIMEOUT = 60
HTTP_TIMEOUT = 5

_started = time.monotonic()


class Failure(Exception):
    """A failed assertion, with a message that says what was expected and what was seen."""


def log(message):
    print(f"[{time.strftime('%H:%M:%S')} +{time.monotonic() - _started:6.1f}s] {message}",
          flush=True)


class Child:
    """A child process in its own process group, with stdout and stderr in a log file."""

    def __init__(self, name, argv, workdir):
        self.name = name
        self.log_path = os.path.join(workdir, f"{name}.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=workdir,
                                     start_new_session=True, preexec_fn=die_with_parent)
        log(f"started {name} (pid {self.proc.pid}): {' '.join(argv)}")

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc.poll() is None

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def _signal_group(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self):
        """SIGKILLs the whole group and reaps the leader."""
        self._signal_group(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.running():
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log(f"{self.name} ignored SIGTERM for 10 s; killing it")
        # SIGKILL the group even after a clean exit, for grandchildren (the writer's sleep).
        self._signal_group(signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log(f"{self.name} (pid {self.proc.pid}) did not die after SIGKILL")
        self._log.close()


# Loopback only: a proxy from the environment must never see these requests.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url, params=None):
    """Returns (status, parsed JSON or text). Raises OSError when there is no answer."""
    if params:
        url += "?" + urllib.parse.urlencode(params, doseq=True)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with _opener.open(request, timeout=HTTP_TIMEOUT) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    text = body.decode("utf-8", "replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def wait_until(what, probe, timeout, children):
    """Calls probe until it returns a truthy value, which is returned; fails after timeout."""
    deadline = time.monotonic() + timeout
    last = "no attempt yet"
    while True:
        for child in children:
            if not child.running():
                raise Failure(f"{child.name} exited with status {child.proc.returncode} "
                              f"while waiting for {what}")
        try:
            result = probe()
            if result:
                return result
            last = "condition not met"
        except Failure:
            raise
        except (OSError, ValueError, KeyError, TypeError) as error:
            last = f"{type(error).__name__}: {error}"
        if time.monotonic() >= deadline:
            raise Failure(f"timed out after {timeout} s waiting for {what} (last: {last})")
        time.sleep(0.5)


class Prometheus:
    def __init__(self, url):
        self.url = url

    def query(self, expr):
        """Evaluates expr now; returns the result list. A PromQL error is a Failure at once."""
        status, body = http_get(self.url + "/api/v1/query", {"query": expr})
        if status == 400 or status == 422:
            raise Failure(f"Prometheus rejected the query {expr!r}: {body}")
        if status != 200 or not isinstance(body, dict) or body.get("status") != "success":
            raise OSError(f"/api/v1/query answered {status}: {body}")
        if body["data"]["resultType"] not in ("vector", "scalar"):
            raise Failure(f"query {expr!r} returned a {body['data']['resultType']}, not a vector")
        result = body["data"]["result"]
        return result if body["data"]["resultType"] == "vector" else [{"metric": {},
                                                                      "value": result}]

    def series(self, selector):
        status, body = http_get(self.url + "/api/v1/series",
                                {"match[]": selector, "start": str(time.time() - 600)})
        if status == 400 or status == 422:
            raise Failure(f"Prometheus rejected the series selector {selector!r}: {body}")
        if status != 200 or body.get("status") != "success":
            raise OSError(f"/api/v1/series answered {status}: {body}")
        return body["data"]

    def alerts(self):
        status, body = http_get(self.url + "/api/v1/alerts")
        if status != 200 or body.get("status") != "success":
            raise OSError(f"/api/v1/alerts answered {status}: {body}")
        return body["data"]["alerts"]


# ---------------------------------------------------------------------------------------------
# The dashboard: static checks (Grafana cannot run here) and its queries.


def all_panels(panels):
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def datasource_uids(node):
    """Yields every datasource uid anywhere in the dashboard."""
    if isinstance(node, dict):
        source = node.get("datasource")
        if isinstance(source, dict) and "uid" in source:
            yield source["uid"]
        elif isinstance(source, str):
            yield source
        for value in node.values():
            yield from datasource_uids(value)
    elif isinstance(node, list):
        for value in node:
            yield from datasource_uids(value)


# Series of these metrics belong to one process, so every selector must filter by process too.
PER_PROCESS = {"heartbeat_state", "heartbeat_age_seconds", "heartbeat_last_timestamp_seconds",
               "heartbeat_iteration_total", "heartbeat_timeout_seconds", "heartbeat_pid"} | JOB_METRICS
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?")
PROMQL_WORDS = {"sum", "max", "min", "avg", "count", "rate", "increase", "by", "without", "or",
                "and", "unless", "on", "ignoring", "group_left", "group_right", "bool", "offset",
                "changes", "delta", "irate", "topk", "bottomk", "abs", "vector", "absent",
                "label_replace", "histogram_quantile", "time", "timestamp", "last_over_time",
                "max_over_time", "min_over_time", "avg_over_time"}


def selectors(expr):
    """Yields (metric name, label matchers) of every selector in a PromQL expression."""
    # Strip label lists of by/without/on/ignoring, range durations and strings first.
    stripped = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1",
                      expr)
    stripped = re.sub(r"\[[^\]]*\]", "", stripped)
    for match in SELECTOR.finditer(stripped):
        name, matchers = match.group(1), match.group(2) or ""
        if name not in PROMQL_WORDS and not name.isdigit():
            yield name, matchers


def check_selectors(where, expr):
    for name, matchers in selectors(expr):
        required = ['job=~"$job"', 'instance=~"$instance"']
        if name in PER_PROCESS:
            required.append('process=~"$process"')
        for matcher in required:
            if matcher not in matchers:
                raise Failure(f"{where}: selector {name}{matchers} lacks {matcher}")


def dashboard_targets(dashboard):
    """Yields (where, target) for every query of every panel."""
    for panel in all_panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            yield f"panel {panel['id']} {panel.get('title')!r} target {target.get('refId')}", target


def check_dashboard(dashboard):
    """Checks what Grafana would need, since Grafana itself is not available to load it."""
    if not 36 <= dashboard.get("schemaVersion", 0) <= 39:
        raise Failure(f"dashboard schemaVersion {dashboard.get('schemaVersion')} is not 36..39")
    inputs = [i for i in dashboard.get("__inputs", []) if i.get("name") == "DS_PROMETHEUS"]
    if not inputs or inputs[0].get("pluginId") != "prometheus":
        raise Failure("dashboard __inputs has no prometheus input DS_PROMETHEUS")
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    for name in ("datasource", "job", "instance", "process"):
        if name not in variables:
            raise Failure(f"dashboard lacks the template variable {name}")
    if variables["datasource"]["type"] != "datasource" or \
            variables["datasource"]["query"] != "prometheus":
        raise Failure("template variable datasource is not a prometheus datasource variable")
    if not (variables["process"].get("multi") and variables["process"].get("includeAll")):
        raise Failure("template variable process is not multi-value with All")

    allowed = {"${datasource}", "-- Grafana --"}
    for uid in datasource_uids({k: v for k, v in dashboard.items() if k != "templating"}):
        if uid not in allowed:
            raise Failure(f"dashboard names the datasource {uid!r}, not ${{datasource}}")
    for variable in variables.values():
        if variable["type"] == "query" and variable["datasource"].get("uid") != "${datasource}":
            raise Failure(f"variable {variable['name']} does not use ${{datasource}}")

    ids = [panel["id"] for panel in all_panels(dashboard["panels"])]
    if len(ids) != len(set(ids)):
        raise Failure(f"panel ids are not unique: {ids}")
    boxes = []
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        if grid["x"] < 0 or grid["w"] < 1 or grid["x"] + grid["w"] > 24 or grid["h"] < 1:
            raise Failure(f"panel {panel['id']} lies outside the 24-column grid: {grid}")
        for other_id, other in boxes:
            if (grid["x"] < other["x"] + other["w"] and other["x"] < grid["x"] + grid["w"] and
                    grid["y"] < other["y"] + other["h"] and other["y"] < grid["y"] + grid["h"]):
                raise Failure(f"panels {other_id} and {panel['id']} overlap")
        boxes.append((panel["id"], grid))

    for panel in all_panels(dashboard["panels"]):
        if panel["type"] == "row":
            continue
        refs = [t.get("refId") for t in panel.get("targets", [])]
        if not refs or len(refs) != len(set(refs)):
            raise Failure(f"panel {panel['id']} has no targets or repeats a refId: {refs}")
    for where, target in dashboard_targets(dashboard):
        if not target.get("expr", "").strip():
            raise Failure(f"{where} has no expr")
        check_selectors(where, target["expr"])
    for annotation in promql_annotations(dashboard):
        check_selectors(f"annotation {annotation['name']!r}", annotation["expr"])

    timeline = state_timeline(dashboard)
    codes = state_codes(timeline)
    if sorted(codes) != ["1", "2", "3", "4", "5"]:
        raise Failure(f"the state timeline maps {sorted(codes)}, not the five states 1..5")
    for state in STATES:
        if f'state="{state}"' not in timeline["targets"][0]["expr"]:
            raise Failure(f"the state timeline query does not encode the state {state}")


def promql_annotations(dashboard):
    return [a for a in dashboard.get("annotations", {}).get("list", []) if a.get("expr")]


def state_timeline(dashboard):
    panels = [p for p in all_panels(dashboard["panels"]) if p["type"] == "state-timeline"]
    if len(panels) != 1:
        raise Failure(f"expected one state-timeline panel, found {len(panels)}")
    return panels[0]


def state_codes(panel):
    """Returns {value: text} of the panel's value mappings."""
    codes = {}
    for mapping in panel["fieldConfig"]["defaults"].get("mappings", []):
        if mapping.get("type") == "value":
            codes.update({k: v["text"] for k, v in mapping["options"].items()})
    return codes


VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def substitute(expr, values):
    def replace(match):
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in values:
            raise Failure(f"the expression {expr!r} uses ${name}, which the test does not know")
        return values[name]

    return VARIABLE.sub(replace, expr)


LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.*?)\s*,\s*)?(\w+)\s*\)\s*$", re.S)


def check_variable_queries(dashboard, prometheus, values):
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        query = query.get("query", "") if isinstance(query, dict) else query
        match = LABEL_VALUES.match(query)
        if not match:
            raise Failure(f"variable {variable['name']}: cannot check the query {query!r}")
        selector, label = match.group(1), match.group(2)
        if not selector:
            raise Failure(f"variable {variable['name']}: label_values without a metric scans "
                          f"every series; name the metric")
        series = prometheus.series(substitute(selector, values))
        found = sorted({s[label] for s in series if label in s})
        if values.get(variable["name"]) not in found and values.get(variable["name"]) != ".*":
            raise Failure(f"variable {variable['name']}: {query!r} gives {found}, "
                          f"without {values.get(variable['name'])!r}")
        log(f"  variable {variable['name']}: {found}")


def empty_dashboard_queries(dashboard, prometheus, values):
    """Evaluates every panel query; returns the ones without data (PromQL errors fail). A query
    of job metrics asks about the job where the others ask about the worker."""
    empty = []
    for where, target in dashboard_targets(dashboard):
        metrics = {name for name, _ in selectors(target["expr"])}
        asked = dict(values)
        if metrics & JOB_METRICS and values["process"] == PROCESS:
            asked["process"] = JOB_PROCESS
        if not prometheus.query(substitute(target["expr"], asked)):
            empty.append(where)
    return empty


def timeline_state(dashboard, prometheus, values):
    """The state of the worker as the state timeline shows it: its value mapping's text."""
    panel = state_timeline(dashboard)
    result = prometheus.query(substitute(panel["targets"][0]["expr"], values))
    rows = [r for r in result if r["metric"].get("process") == PROCESS]
    if len(rows) != 1:
        raise Failure(f"the state timeline query gives {len(rows)} series for {PROCESS}: {result}")
    value = rows[0]["value"][1]
    return state_codes(panel).get(value, f"unmapped value {value}")


def stat_counts(dashboard, prometheus, values):
    """{state: count} as the stat panels show them."""
    counts = {}
    for panel in all_panels(dashboard["panels"]):
        if panel["type"] != "stat":
            continue
        expr = panel["targets"][0]["expr"]
        state = re.search(r'state="(\w+)"', expr)
        result = prometheus.query(substitute(expr, values))
        if state and len(result) == 1:
            counts[state.group(1)] = float(result[0]["value"][1])
    return counts


def check_stat_counts(dashboard, prometheus, values, expected_state):
    counts = stat_counts(dashboard, prometheus, values)
    expected = {state: (1.0 if state == expected_state else 0.0) for state in STATES}
    if counts != expected:
        raise Failure(f"the stat panels show {counts}, expected {expected}")


# ---------------------------------------------------------------------------------------------


ALERTMANAGER_CONFIG = """\
route:
  receiver: "null"
  group_wait: 1s
receivers:
  - name: "null"
"""

PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - {rules}
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["{alertmanager}"]
scrape_configs:
  - job_name: {job}
    static_configs:
      - targets: ["{exporter}"]
"""


def start_server(name, make_argv, ready_url_of, workdir, children):
    """Starts a server on a free port, retrying with another port if it loses the race for it."""
    for attempt in range(3):
        port = free_port()
        child = Child(f"{name}-{attempt}" if attempt else name, make_argv(port), workdir)
        children.append(child)
        try:
            wait_until(f"{name} to be ready", lambda: http_get(ready_url_of(port))[0] == 200,
                       START_TIMEOUT, [child])
            log(f"{name} ready on 127.0.0.1:{port}")
            return child, port
        except Failure:
            if child.running() or "address already in use" not in child.output():
                raise
            log(f"{name} lost port {port} to another process; retrying")
    raise Failure(f"{name} could not bind a free port in 3 attempts")


def start_exporter(exporter, workdir, children):
    heartbeats = os.path.join(workdir, "heartbeats")
    os.mkdir(heartbeats)
    os.mkdir(os.path.join(workdir, "jobs"))
    config = os.path.join(workdir, "exporter.json")
    with open(config, "w") as f:
        json.dump({"heartbeat_dirs": [{"path": heartbeats, "timeout_seconds": 30}],
                   "processes": {SCHEDULED: {
                       "heartbeat_path": os.path.join(workdir, "jobs", f"{SCHEDULED}.json"),
                       "schedule": SCHEDULE, "grace_seconds": GRACE_SECONDS,
                       "check_pid": False}}}, f)
    child = Child("exporter", [exporter, f"--config.file={config}",
                               "--web.listen-address=127.0.0.1:0"], workdir)
    children.append(child)
    port = wait_until("the exporter's startup line naming its port",
                      lambda: re.search(r"address=127\.0\.0\.1:(\d+)", child.output()),
                      START_TIMEOUT, [child]).group(1)
    address = f"127.0.0.1:{port}"
    wait_until("the exporter to be ready",
               lambda: http_get(f"http://{address}/-/ready")[0] == 200, START_TIMEOUT, [child])
    log(f"exporter ready on {address}")
    return heartbeats, address


def firing(alerts, alertname, process=PROCESS):
    return [a for a in alerts if a["labels"].get("alertname") == alertname and
            a["labels"].get("process") == process and a.get("state") == "firing"]


def run_failing_job(args, heartbeats, prometheus, servers):
    """Runs the job once successfully and once failing, and waits for HeartbeatJobFailed."""
    for command, expected in ((["true"], 0), (["sh", "-c", f"exit {JOB_EXIT_CODE}"],
                                               JOB_EXIT_CODE)):
        argv = [args.heartbeatctl, "run", "--dir", heartbeats, "--key", JOB_PROCESS, "--"] + command
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        if done.returncode != expected:
            raise Failure(f"{' '.join(argv)} exited {done.returncode}, expected {expected}: "
                          f"{done.stderr!r}")
    log(f"ran {JOB_PROCESS} with heartbeatctl run: exit 0, then exit {JOB_EXIT_CODE}")
    # The failed run is error_status for the folder's 30 s timeout; the rule has no `for`.
    alert = wait_until("HeartbeatJobFailed to fire in Prometheus",
                       lambda: firing(prometheus.alerts(), "HeartbeatJobFailed", JOB_PROCESS),
                       20, servers)[0]
    summary = alert["annotations"].get("summary", "")
    description = alert["annotations"].get("description", "")
    if f"failed with exit code {JOB_EXIT_CODE}" not in summary or \
            "Its last successful run started" not in description or \
            alert["labels"].get("severity") != "warning":
        raise Failure(f"HeartbeatJobFailed does not name the exit code and last success: "
                      f"{alert}")
    log(f"HeartbeatJobFailed fires for {JOB_PROCESS}: {summary}")


def run(args, dashboard, workdir, children):
    with open(os.path.join(workdir, "alertmanager.yml"), "w") as f:
        f.write(ALERTMANAGER_CONFIG)
    _, am_port = start_server(
        "alertmanager",
        lambda port: [args.alertmanager, "--config.file=alertmanager.yml",
                      "--storage.path=alertmanager-data",
                      f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        lambda port: f"http://127.0.0.1:{port}/-/ready", workdir, children)
    alertmanager_url = f"http://127.0.0.1:{am_port}"

    heartbeats, exporter_address = start_exporter(args.exporter, workdir, children)

    with open(os.path.join(workdir, "prometheus.yml"), "w") as f:
        f.write(PROMETHEUS_CONFIG.format(rules=json.dumps(args.rules), job=JOB,
                                         alertmanager=f"127.0.0.1:{am_port}",
                                         exporter=exporter_address))
    _, prom_port = start_server(
        "prometheus",
        lambda port: [args.prometheus, "--config.file=prometheus.yml",
                      "--storage.tsdb.path=prometheus-data",
                      f"--web.listen-address=127.0.0.1:{port}"],
        lambda port: f"http://127.0.0.1:{port}/-/ready", workdir, children)
    prometheus = Prometheus(f"http://127.0.0.1:{prom_port}")
    servers = list(children)

    status, body = http_get(prometheus.url + "/api/v1/rules")
    if status != 200:
        raise Failure(f"/api/v1/rules answered {status}: {body}")
    rules = {r["name"]: r for g in body["data"]["groups"] if g["name"] == "heartbeat"
             for r in g["rules"]}
    if "HeartbeatProcessDead" not in rules:
        raise Failure(f"{args.rules} has no rule HeartbeatProcessDead in group heartbeat; "
                      f"Prometheus loaded {sorted(rules)}")
    log(f"Prometheus loaded {len(rules)} rules from {args.rules}; HeartbeatProcessDead has "
        f"for: {rules['HeartbeatProcessDead']['duration']} s")
    wait_until("Prometheus to discover the Alertmanager",
               lambda: http_get(prometheus.url + "/api/v1/alertmanagers")[1]["data"]
               ["activeAlertmanagers"], START_TIMEOUT, servers)

    # The job runs once, now; its next run, due within a minute, never comes.
    subprocess.run([args.heartbeatctl, "beat", "--dir", os.path.join(workdir, "jobs"),
                    "--key", SCHEDULED], check=True, timeout=HTTP_TIMEOUT)
    job_beat_at = time.monotonic()
    log(f"{SCHEDULED} beat once; it is due again within a minute ({SCHEDULE!r}, "
        f"grace {GRACE_SECONDS} s)")

    # The heartbeat's pid is the loop's shell, heartbeatctl's parent.
    writer = Child("writer", ["/bin/sh", "-c",
                              'while :; do "$0" beat --dir "$1" --key worker || exit 1; '
                              'sleep 1; done', args.heartbeatctl, heartbeats], workdir)
    children.append(writer)
    selector = f'job="{JOB}",process="{PROCESS}"'
    wait_until(f"Prometheus to see {PROCESS} healthy",
               lambda: prometheus.query(f'heartbeat_state{{{selector},state="healthy"}} == 1'),
               HEALTHY_TIMEOUT, servers + [writer])
    log(f"Prometheus sees {PROCESS} healthy")
    pid = prometheus.query(f"heartbeat_pid{{{selector}}}")
    if [float(r["value"][1]) for r in pid] != [float(writer.pid)]:
        raise Failure(f"heartbeat_pid of {PROCESS} is {pid}, expected the writer's {writer.pid}")

    run_failing_job(args, heartbeats, prometheus, servers)

    values = {"job": JOB, "instance": exporter_address, "process": PROCESS,
              "__rate_interval": "1m", "__interval": "15s", "__range": "1h",
              "__range_s": "3600", "__interval_ms": "15000"}
    log("checking the dashboard's variable queries")
    check_variable_queries(dashboard, prometheus, values)
    for process in (PROCESS, ".*"):
        log(f"checking that every dashboard query returns data with process={process}")
        values["process"] = process
        # Retried because rate() needs two samples in its window.
        empty = []

        def all_have_data():
            empty[:] = empty_dashboard_queries(dashboard, prometheus, values)
            return not empty

        try:
            wait_until("every dashboard query to return data", all_have_data, DASHBOARD_TIMEOUT,
                       servers + [writer])
        except Failure as failure:
            if not empty:
                raise
            raise Failure(f"{failure}; without data: {empty}") from None
    values["process"] = PROCESS
    shown = timeline_state(dashboard, prometheus, values)
    if shown != "healthy":
        raise Failure(f"the state timeline shows {PROCESS} as {shown!r}, expected 'healthy'")
    check_stat_counts(dashboard, prometheus, values, "healthy")
    log(f"{sum(1 for _ in dashboard_targets(dashboard))} dashboard queries return data; "
        f"the timeline and stat panels show {PROCESS} healthy")

    writer.kill()
    killed_at = time.monotonic()
    log(f"killed the writer (pid {writer.pid}) with SIGKILL and reaped it")
    children.remove(writer)

    wait_until(f"Prometheus to see {PROCESS} as stale_pid",
               lambda: prometheus.query(f'heartbeat_state{{{selector},state="stale_pid"}} == 1'),
               STALE_TIMEOUT, servers)
    log(f"Prometheus sees {PROCESS} as stale_pid after {time.monotonic() - killed_at:.1f} s")
    alert = wait_until("HeartbeatProcessDead to fire in Prometheus",
                       lambda: firing(prometheus.alerts(), "HeartbeatProcessDead"),
                       FIRING_TIMEOUT, servers)[0]
    log(f"HeartbeatProcessDead fires in Prometheus {time.monotonic() - killed_at:.1f} s after "
        f"the kill: {alert['labels']}")
    expected = {"alertname": "HeartbeatProcessDead", "job": JOB, "instance": exporter_address,
                "process": PROCESS, "severity": "critical"}
    wrong = {k: alert["labels"].get(k) for k, v in expected.items() if alert["labels"].get(k) != v}
    if wrong:
        raise Failure(f"HeartbeatProcessDead has labels {alert['labels']}, expected {expected}")

    def in_alertmanager():
        status, alerts = http_get(alertmanager_url + "/api/v2/alerts")
        if status != 200:
            raise OSError(f"/api/v2/alerts answered {status}: {alerts}")
        return [a for a in alerts if a["labels"].get("alertname") == "HeartbeatProcessDead" and
                a["labels"].get("process") == PROCESS and a["status"]["state"] == "active"]

    received = wait_until("Alertmanager to hold HeartbeatProcessDead", in_alertmanager,
                          ALERTMANAGER_TIMEOUT, servers)[0]
    log(f"Alertmanager holds HeartbeatProcessDead {time.monotonic() - killed_at:.1f} s after the "
        f"kill: {received['labels']}")

    # The states exclude each other, so a dead process must never also look hung.
    hung = [a for a in prometheus.alerts() if a["labels"].get("alertname") ==
            "HeartbeatProcessHung" and a["labels"].get("process") == PROCESS]
    if hung:
        raise Failure(f"a dead process also raised HeartbeatProcessHung: {hung}")
    shown = timeline_state(dashboard, prometheus, values)
    if shown != "dead (stale pid)":
        raise Failure(f"the state timeline shows {PROCESS} as {shown!r}, "
                      f"expected 'dead (stale pid)'")
    check_stat_counts(dashboard, prometheus, values, "stale_pid")
    for annotation in promql_annotations(dashboard):
        if not prometheus.query(substitute(annotation["expr"], values)):
            raise Failure(f"annotation {annotation['name']!r} shows no firing alert")
    log("the timeline, stat panels and alert annotation show the dead process")

    check_job_missed(prometheus, exporter_address, job_beat_at, servers)


def check_job_missed(prometheus, exporter_address, job_beat_at, servers):
    """HeartbeatJobMissed fires for the job whose run did not come, naming its schedule."""
    alert = wait_until(f"HeartbeatJobMissed to fire for {SCHEDULED}",
                       lambda: firing(prometheus.alerts(), "HeartbeatJobMissed", SCHEDULED),
                       JOB_MISSED_TIMEOUT - (time.monotonic() - job_beat_at), servers)[0]
    log(f"HeartbeatJobMissed is firing {time.monotonic() - job_beat_at:.1f} s after the job's "
        f"heartbeat (since {alert.get('activeAt')}): {alert['labels']}")
    expected = {"alertname": "HeartbeatJobMissed", "job": JOB, "instance": exporter_address,
                "process": SCHEDULED, "severity": "warning", "state": "timed_out",
                "schedule": SCHEDULE, "timezone": "UTC"}
    wrong = {k: alert["labels"].get(k) for k, v in expected.items() if alert["labels"].get(k) != v}
    if wrong:
        raise Failure(f"HeartbeatJobMissed has labels {alert['labels']}, expected {expected}")
    description = alert["annotations"].get("description", "")
    for part in (f'its schedule "{SCHEDULE}" (UTC)', "it was due by "):
        if part not in description:
            raise Failure(f"HeartbeatJobMissed's description lacks {part!r}: {description!r}")
    hung = firing(prometheus.alerts(), "HeartbeatProcessHung", SCHEDULED)
    if hung:
        raise Failure(f"the missed job also raised HeartbeatProcessHung: {hung}")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exporter", required=True, help="the built heartbeat_exporter")
    parser.add_argument("--heartbeatctl", required=True, help="the built heartbeatctl")
    parser.add_argument("--source-dir", required=True, help="the repository's root")
    parser.add_argument("--prometheus", default="/usr/bin/prometheus")
    parser.add_argument("--alertmanager", default="/usr/bin/prometheus-alertmanager")
    parser.add_argument("--rules", help="default: SOURCE_DIR/deploy/prometheus/alerts.yml")
    parser.add_argument("--dashboard", help="default: SOURCE_DIR/dashboards/heartbeat.json")
    args = parser.parse_args()
    # The servers run in a temp folder, so every path they are given must be absolute.
    args.exporter = os.path.abspath(args.exporter)
    args.heartbeatctl = os.path.abspath(args.heartbeatctl)
    args.rules = os.path.abspath(args.rules or os.path.join(args.source_dir, "deploy",
                                                            "prometheus", "alerts.yml"))
    args.dashboard = args.dashboard or os.path.join(args.source_dir, "dashboards",
                                                    "heartbeat.json")
    return args


def main():
    args = parse_args()
    # ctest's timeout sends SIGTERM first on some platforms; unwinding runs the cleanup.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated by SIGTERM"))
    children = []
    try:
        for path, package in ((args.exporter, "the build"), (args.heartbeatctl, "the build"),
                              (args.prometheus, "the Debian package prometheus"),
                              (args.alertmanager, "the Debian package prometheus-alertmanager")):
            if not os.access(path, os.X_OK):
                raise Failure(f"{path} is not an executable; it comes from {package}")
        for path in (args.rules, args.dashboard):
            if not os.path.isfile(path):
                raise Failure(f"{path} does not exist")
        try:
            with open(args.dashboard, encoding="utf-8") as f:
                dashboard = json.load(f)
        except ValueError as error:
            raise Failure(f"{args.dashboard} is not valid JSON: {error}") from None
        check_dashboard(dashboard)
        log(f"{args.dashboard}: valid JSON, datasource and variables as Grafana needs them")

        with tempfile.TemporaryDirectory(prefix="heartbeat-e2e-") as workdir:
            try:
                run(args, dashboard, workdir, children)
            except BaseException:
                for child in children:
                    print(f"----- {child.name} log ({child.log_path}) -----\n"
                          f"{child.output()[-8000:]}", flush=True)
                raise
            finally:
                for child in reversed(children):
                    child.stop()
        log(f"PASS in {time.monotonic() - _started:.1f} s")
        return 0
    except Failure as failure:
        log(f"FAIL: {failure}")
        return 1
    except Exception:
        traceback.print_exc()
        log("FAIL: unexpected error")
        return 1


if __name__ == "__main__":
    sys.exit(main())
