#!/usr/bin/env python3
"""End-to-end scale benchmark of heartbeat_exporter: full scrapes over HTTP at N heartbeats.

For each N in --sizes it writes N heartbeat files into one folder (exactly what HeartbeatWriter
writes, every one naming a live process), starts the exporter on a free loopback port and measures:

  scrape     S full scrapes with Accept-Encoding: gzip, as Prometheus sends them; wall time of
             each request from connect to last byte (decompression happens outside the timing):
             median and p99 (nearest rank), bytes gzip and uncompressed
  cpu        the exporter's utime+stime (/proc/<pid>/stat) over the S scrapes, per scrape
  memory     VmRSS and VmHWM (/proc/<pid>/status) after the S scrapes
  pair       two scrapes started together (--pairs times): median wall time of the pair and the
             exporter's CPU per pair, against one scrape's (about 1x when they share one
             collection, about 2x when each does the work)
  idle       the exporter's CPU ticks over --idle-seconds with no request (target: 0)
  floor      heartbeat_floor on the same folder in the same run: one thread listing, opening,
             reading and parsing every file and calling kill(pid, 0); the scrape/floor ratio
  node       for N in --node-sizes, node_exporter's textfile collector over one .prom file per
             process with the same series, scraped the same way (it also serves one
             node_textfile_mtime_seconds series per file: that is part of its cost)

Every N is checked: each scrape must answer 200 and the exposition must hold N healthy processes
(N lines `heartbeat_state{...,state="healthy"} 1`), or the script stops with exit status 1.

Live pids: heartbeats name min(N, --max-sleepers) sleeping `cat` processes, reused round-robin
beyond that (pid_max is often 32768). The sleepers read a pipe that only this script holds, so
they exit even if the script is SIGKILLed; they are killed and reaped on every exit anyway.

--dump-series FILE writes one exposition at the largest N, normalised so that two runs (before
and after a change to the exporter) can be compared with diff:
  - only heartbeat_* series and their HELP/TYPE lines (not heartbeat_exporter_*), sorted lines;
  - labels sorted by name, every value re-printed in one float format (repr), so that a
    different but equivalent number formatting does not show up as a difference;
  - heartbeat_age_seconds values become AGE;
  - heartbeat_pid values become SLEEPER_<k>, the index of the sleeper that file was given
    (file i names sleeper (i-1) mod K, so the mapping is the same in every run with the same
    sizes), or UNKNOWN_PID_<pid> for a pid the script never wrote;
  - heartbeat_last_timestamp_seconds values become T0<offset>: every file's timestamp is the
    generation time T0 minus (i-1) microseconds, so the offset identifies the file's timestamp
    whatever T0 was.
Everything else (states, iterations, timeouts, the set of series and labels) is kept as served.

Usage (Release builds; heartbeats in the page cache after the warm-up):

  tests/bench/scrape_bench.py --exporter build/heartbeat_exporter \\
      --floor build/tests/bench/heartbeat_floor [--sizes 1000,10000,100000] [--scrapes 30] \\
      [--node-exporter /usr/bin/prometheus-node-exporter] [--node-sizes 1000,10000] \\
      [--dump-series FILE] [--work-dir DIR] [--markdown]

Python standard library only. Runs are noisy when other work shares the CPUs: the load average
is printed next to every figure.
"""

import argparse
import datetime
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from processes import die_with_parent, free_port  # noqa: E402

STATES = ["healthy", "timed_out", "no_heartbeat", "stale_pid", "error_status"]
# Far longer than any run, so that every process stays healthy from start to end.
TIMEOUT_SECONDS = 86400
# What Prometheus 2.x sends; an exporter may pick its format from it.
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,"
                     "application/openmetrics-text;version=0.0.1;q=0.75,"
                     "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
START_TIMEOUT = 30
HTTP_TIMEOUT = 300
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# The exporter's HELP texts, for node_exporter's equivalent .prom files.
FAMILIES = [
    ("heartbeat_state", "gauge",
     "Health state of a monitored process: 1 for its current state, 0 for the others."),
    ("heartbeat_age_seconds", "gauge",
     "Seconds since the process's last heartbeat (now minus its timestamp)."),
    ("heartbeat_last_timestamp_seconds", "gauge", "Unix time of the process's last heartbeat."),
    ("heartbeat_iteration_total", "counter",
     "Iteration counter reported in the process's last heartbeat."),
    ("heartbeat_timeout_seconds", "gauge", "Configured heartbeat timeout of the process."),
    ("heartbeat_pid", "gauge", "Process ID reported in the process's last heartbeat."),
]

_started = time.monotonic()


class Failure(Exception):
    """The benchmark cannot go on: a scrape failed or the exposition is not what was written."""


def log(message):
    print(f"[+{time.monotonic() - _started:6.1f}s] {message}", flush=True)


def load_text():
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def median(samples):
    return statistics.median(samples)


def p99(samples):
    """Nearest rank: with 30 samples this is the slowest one."""
    ordered = sorted(samples)
    rank = max(1, -(-99 * len(ordered) // 100))
    return ordered[rank - 1]


# ---------------------------------------------------------------------------------------------
# Live processes for the heartbeats to name.


class Sleepers:
    """K `cat` processes blocked reading a pipe whose write end only this script holds."""

    # The load average counts runnable processes every 5 s: starting or killing thousands at
    # once would show up in it as a load of hundreds, so they come and go a batch at a time.
    BATCH = 100

    def __init__(self):
        self.pids = []
        self._read_end, self._write_end = os.pipe()

    def start(self, count):
        devnull = os.open(os.devnull, os.O_RDWR)
        try:
            actions = [(os.POSIX_SPAWN_DUP2, self._read_end, 0),
                       (os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
            while len(self.pids) < count:
                batch = [os.posix_spawn("/bin/cat", ["cat"], os.environ, file_actions=actions)
                         for _ in range(min(self.BATCH, count - len(self.pids)))]
                self.pids.extend(batch)
                self._wait_blocked(batch)
        finally:
            os.close(devnull)

    @staticmethod
    def _wait_blocked(pids):
        deadline = time.monotonic() + START_TIMEOUT
        for pid in pids:
            while True:
                with open(f"/proc/{pid}/stat") as f:
                    state = f.read().rpartition(")")[2].split()[0]
                if state == "S":
                    break
                if state in ("Z", "X") or time.monotonic() > deadline:
                    raise Failure(f"sleeper {pid} is in state {state}, not blocked reading its "
                                  f"pipe")
                time.sleep(0.001)

    def pid_for(self, index):
        """The pid of file `index` (1-based): sleepers are handed out round-robin."""
        return self.pids[(index - 1) % len(self.pids)]

    def stop(self):
        for first in range(0, len(self.pids), self.BATCH):
            batch = self.pids[first:first + self.BATCH]
            for pid in batch:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for pid in batch:
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
        self.pids = []
        os.close(self._read_end)
        os.close(self._write_end)


# ---------------------------------------------------------------------------------------------
# Heartbeats, config and node_exporter's textfiles.


def process_key(index):
    return f"worker-{index:06d}"


class Heartbeats:
    """N heartbeat files: file i names sleeper (i-1) mod K, T0 - (i-1) µs and iteration i."""

    def __init__(self, count, sleepers):
        self.count = count
        self.sleepers = sleepers
        # Taken after the sleepers started, so that no pid looks reused (started after its beat).
        self.t0 = datetime.datetime.now(datetime.timezone.utc)

    def timestamp(self, index):
        return self.t0 - datetime.timedelta(microseconds=index - 1)

    def write(self, folder):
        os.makedirs(folder)
        for index in range(1, self.count + 1):
            # The bytes HeartbeatWriter writes: compact JSON, microseconds, "+00:00".
            content = json.dumps({
                "process_key": process_key(index),
                "pid": self.sleepers.pid_for(index),
                "timestamp": self.timestamp(index).isoformat(timespec="microseconds"),
                "status": "running",
                "iteration": index,
            }, separators=(",", ":"))
            with open(os.path.join(folder, process_key(index) + ".json"), "w") as out:
                out.write(content)

    def write_textfiles(self, folder):
        """One .prom file per process with the series the exporter serves for it."""
        os.makedirs(folder)
        now = time.time()
        for index in range(1, self.count + 1):
            labels = f'process="{process_key(index)}"'
            stamp = self.timestamp(index).timestamp()
            values = {
                "heartbeat_state": [(f'{labels},state="{state}"', 1 if state == "healthy" else 0)
                                    for state in STATES],
                "heartbeat_age_seconds": [(labels, now - stamp)],
                "heartbeat_last_timestamp_seconds": [(labels, stamp)],
                "heartbeat_iteration_total": [(labels, index)],
                "heartbeat_timeout_seconds": [(labels, TIMEOUT_SECONDS)],
                "heartbeat_pid": [(labels, self.sleepers.pid_for(index))],
            }
            lines = []
            for name, kind, help_text in FAMILIES:
                lines.append(f"# HELP {name} {help_text}")
                lines.append(f"# TYPE {name} {kind}")
                lines.extend(f"{name}{{{series}}} {value}" for series, value in values[name])
            with open(os.path.join(folder, process_key(index) + ".prom"), "w") as out:
                out.write("\n".join(lines) + "\n")


def write_config(path, heartbeat_dir):
    config = {
        "default_timeout_seconds": TIMEOUT_SECONDS,
        "processes": {},
        "heartbeat_dirs": [{"path": heartbeat_dir, "timeout_seconds": TIMEOUT_SECONDS}],
    }
    with open(path, "w") as out:
        json.dump(config, out, indent=2)


# ---------------------------------------------------------------------------------------------
# Servers and scrapes.


class Server:
    """An exporter under test, in its own process group, logging to a file."""

    def __init__(self, name, argv, port, log_path):
        self.name = name
        self.port = port
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=die_with_parent)
        log(f"started {name} (pid {self.proc.pid}): {' '.join(argv)}")

    @property
    def pid(self):
        return self.proc.pid

    def log_tail(self):
        with open(self.log_path, "rb") as f:
            return f.read()[-2000:].decode("utf-8", "replace")

    def wait_ready(self, path):
        deadline = time.monotonic() + START_TIMEOUT
        last = "no attempt yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Failure(f"{self.name} exited with status {self.proc.returncode} while "
                              f"starting; its log ends with:\n{self.log_tail()}")
            try:
                status = scrape(self.port, path, gzip_ok=False).status
                if status == 200:
                    return
                last = f"status {status}"
            except (OSError, http.client.HTTPException) as error:
                last = f"{type(error).__name__}: {error}"
            time.sleep(0.1)
        raise Failure(f"{self.name} was not ready on {path} after {START_TIMEOUT} s (last: {last})")

    def cpu_ticks(self):
        with open(f"/proc/{self.pid}/stat") as f:
            # The command name may hold spaces, so fields are counted after its closing ")".
            fields = f.read().rpartition(")")[2].split()
        return int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15

    def memory_mib(self):
        values = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    values[name] = int(rest.split()[0]) / 1024  # kB
        return values["VmRSS"], values["VmHWM"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log(f"{self.name} ignored SIGTERM for 10 s; killing it")
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait(timeout=10)
        self._log.close()


class Scrape:
    def __init__(self, status, seconds, wire, encoding, content_type, start, end):
        self.status = status
        self.seconds = seconds
        self.wire = wire  # the body as received, gzip or not
        self.encoding = encoding
        self.content_type = content_type
        self.start = start
        self.end = end

    def text(self):
        body = gzip.decompress(self.wire) if self.encoding == "gzip" else self.wire
        return body.decode("utf-8")


def scrape(port, path, gzip_ok=True):
    """One request on a fresh connection, timed from connect to the last byte of the body."""
    headers = {"Accept": PROMETHEUS_ACCEPT}
    if gzip_ok:
        headers["Accept-Encoding"] = "gzip"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    try:
        start = time.perf_counter()
        connection.connect()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        wire = response.read()
        end = time.perf_counter()
    finally:
        connection.close()
    return Scrape(response.status, end - start, wire, response.getheader("Content-Encoding"),
                  response.getheader("Content-Type"), start, end)


def checked_scrape(server, path):
    try:
        result = scrape(server.port, path)
    except (OSError, http.client.HTTPException) as error:
        raise Failure(f"scraping {server.name} at 127.0.0.1:{server.port}{path}: "
                      f"{type(error).__name__}: {error}") from error
    if result.status != 200:
        raise Failure(f"scraping {server.name} at 127.0.0.1:{server.port}{path}: status "
                      f"{result.status}: {result.wire[:200]!r}")
    return result


def count_healthy(text):
    count = 0
    for line in text.splitlines():
        if line.startswith("heartbeat_state{") and 'state="healthy"' in line:
            if float(line.rpartition("}")[2].split()[0]) == 1:
                count += 1
    return count


def require_healthy(text, expected, what):
    healthy = count_healthy(text)
    if healthy != expected:
        raise Failure(f"{what}: the exposition holds {healthy} healthy processes, expected "
                      f"{expected}")


def scrape_series(server, path, count, scrapes):
    """Warm-up, then `scrapes` timed scrapes; returns the figures and the last exposition."""
    warm_up = checked_scrape(server, path)
    require_healthy(warm_up.text(), count, f"{server.name} warm-up scrape at N={count}")
    ticks_before = server.cpu_ticks()
    results = [checked_scrape(server, path) for _ in range(scrapes)]
    ticks = server.cpu_ticks() - ticks_before
    last = results[-1]
    text = last.text()
    require_healthy(text, count, f"{server.name} scrape at N={count}")
    rss, hwm = server.memory_mib()
    times = [result.seconds * 1000 for result in results]
    return {
        "load": load_text(),
        "median_ms": median(times),
        "p99_ms": p99(times),
        "gzip_bytes": len(last.wire) if last.encoding == "gzip" else None,
        "text_bytes": len(text.encode("utf-8")),
        "content_type": last.content_type,
        "cpu_ms": ticks * 1000 / CLOCK_TICKS / scrapes,
        "rss_mib": rss,
        "hwm_mib": hwm,
    }, text


def scrape_pairs(server, path, count, pairs):
    """Two scrapes released together by a barrier, `pairs` times."""
    walls = []
    ticks_before = server.cpu_ticks()
    for _ in range(pairs):
        barrier = threading.Barrier(2)
        results = [None, None]

        def one(slot):
            barrier.wait()
            try:
                results[slot] = checked_scrape(server, path)
            except Failure as failure:
                results[slot] = failure

        threads = [threading.Thread(target=one, args=(slot,)) for slot in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for result in results:
            if isinstance(result, Failure):
                raise result
        walls.append((max(r.end for r in results) - min(r.start for r in results)) * 1000)
    ticks = server.cpu_ticks() - ticks_before
    require_healthy(results[0].text(), count, f"{server.name} concurrent scrape at N={count}")
    _, hwm = server.memory_mib()
    return {"median_ms": median(walls), "cpu_ms": ticks * 1000 / CLOCK_TICKS / pairs,
            "hwm_mib": hwm}


def idle_ticks(server, seconds):
    before = server.cpu_ticks()
    time.sleep(seconds)
    return server.cpu_ticks() - before


def run_floor(floor, folder, count, passes):
    argv = [floor, "--passes", str(passes), folder]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
    line = done.stdout.strip()
    match = re.search(r"files=(\d+) .*errors=(\d+) median_ms=([\d.]+) p99_ms=([\d.]+)", line)
    if done.returncode != 0 or not match:
        raise Failure(f"{' '.join(argv)} exited with status {done.returncode}: {line} "
                      f"{done.stderr.strip()}")
    files, errors = int(match.group(1)), int(match.group(2))
    if files != count or errors != 0:
        raise Failure(f"{' '.join(argv)}: read {files} files with {errors} errors, expected "
                      f"{count} files and no error")
    return {"median_ms": float(match.group(3)), "p99_ms": float(match.group(4)), "line": line}


# ---------------------------------------------------------------------------------------------
# --dump-series


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(\S+))?$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def is_dumped(name):
    return name.startswith("heartbeat_") and not name.startswith("heartbeat_exporter_")


def parse_labels(text, line):
    labels = []
    position = 0
    while position < len(text):
        match = _LABEL.match(text, position)
        if not match:
            raise Failure(f"--dump-series: cannot parse the labels of {line!r}")
        labels.append((match.group(1), match.group(2)))
        position = match.end()
    return sorted(labels)


def normalise(text, heartbeats):
    sleeper_of = {pid: index for index, pid in enumerate(heartbeats.sleepers.pids)}
    t0 = heartbeats.t0.timestamp()
    lines = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE") and is_dumped(parts[2]):
                lines.append(line)
            continue
        match = _SAMPLE.match(line)
        if not match:
            raise Failure(f"--dump-series: cannot parse the sample {line!r}")
        name, label_text, value_text, stamp = match.groups()
        if not is_dumped(name):
            continue
        value = float(value_text)
        if name == "heartbeat_age_seconds":
            shown = "AGE"
        elif name == "heartbeat_pid":
            index = sleeper_of.get(int(value))
            shown = f"SLEEPER_{index}" if index is not None else f"UNKNOWN_PID_{value_text}"
        elif name == "heartbeat_last_timestamp_seconds":
            shown = f"T0{round(value - t0, 6) + 0.0:+.6f}"
        else:
            shown = repr(value)
        labels = ",".join(f'{k}="{v}"' for k, v in parse_labels(label_text or "", line))
        lines.append(f"{name}{{{labels}}} {shown}" + (f" {stamp}" if stamp else ""))
    return "".join(line + "\n" for line in sorted(lines))


# ---------------------------------------------------------------------------------------------
# The run.


def run_exporter(args, count, folder, work):
    config = os.path.join(work, "config.json")
    write_config(config, folder)
    port = free_port()
    server = Server("heartbeat_exporter",
                    [args.exporter, f"--config.file={config}",
                     f"--web.listen-address=127.0.0.1:{port}"],
                    port, os.path.join(work, "exporter.log"))
    try:
        server.wait_ready("/-/ready")
        figures, text = scrape_series(server, "/metrics", count, args.scrapes)
        figures["pair"] = scrape_pairs(server, "/metrics", count, args.pairs)
        figures["idle_ticks"] = idle_ticks(server, args.idle_seconds)
    finally:
        server.stop()
    return figures, text


def run_node_exporter(args, count, heartbeats, work):
    textfiles = os.path.join(work, "textfiles")
    heartbeats.write_textfiles(textfiles)
    port = free_port()
    server = Server("node_exporter",
                    [args.node_exporter, "--collector.disable-defaults", "--collector.textfile",
                     f"--collector.textfile.directory={textfiles}",
                     f"--web.listen-address=127.0.0.1:{port}",
                     # Without the Go runtime and process metrics, it serves the textfiles only.
                     "--web.disable-exporter-metrics"],
                    port, os.path.join(work, "node_exporter.log"))
    try:
        server.wait_ready("/")
        figures, text = scrape_series(server, "/metrics", count, args.scrapes)
    finally:
        server.stop()
    if "node_textfile_scrape_error 0" not in text:
        raise Failure(f"node_exporter reported a textfile error at N={count}; see "
                      f"{os.path.join(work, 'node_exporter.log')}")
    return figures


def describe(figures):
    gzip_text = "none" if figures["gzip_bytes"] is None else str(figures["gzip_bytes"])
    return (f"median_ms={figures['median_ms']:.1f} p99_ms={figures['p99_ms']:.1f} "
            f"bytes_gzip={gzip_text} bytes_text={figures['text_bytes']} "
            f"cpu_ms_per_scrape={figures['cpu_ms']:.1f} rss_mib={figures['rss_mib']:.1f} "
            f"hwm_mib={figures['hwm_mib']:.1f}")


def benchmark_size(args, count, sleepers, work):
    row = {"n": count}
    heartbeats = Heartbeats(count, sleepers)
    work = os.path.join(work, f"n-{count}")
    os.makedirs(work, exist_ok=True)
    folder = os.path.join(work, "heartbeats")
    text = None
    if count in args.sizes:
        log(f"N={count}: writing heartbeats in {folder} (load average {load_text()})")
        heartbeats.write(folder)
        floor = run_floor(args.floor, folder, count, max(args.scrapes, 10))
        row["floor"] = floor
        log(f"N={count} {floor['line']} load={load_text()}")
        figures, text = run_exporter(args, count, folder, work)
        row["exporter"] = figures
        pair = figures["pair"]
        pair_share = pair["cpu_ms"] / figures["cpu_ms"] if figures["cpu_ms"] else float("nan")
        log(f"N={count} exporter {describe(figures)} content_type={figures['content_type']!r} "
            f"load={load_text()}")
        log(f"N={count} exporter pair median_ms={pair['median_ms']:.1f} "
            f"cpu_ms_per_pair={pair['cpu_ms']:.1f} "
            f"(x{pair_share:.2f} one scrape) hwm_mib={pair['hwm_mib']:.1f}")
        log(f"N={count} exporter idle_ticks={figures['idle_ticks']} over {args.idle_seconds} s "
            f"(target 0)")
        log(f"N={count} ratio scrape_median/floor_median="
            f"{figures['median_ms'] / floor['median_ms']:.2f}")
        row["load"] = figures["load"]
    if count in args.node_sizes:
        node = run_node_exporter(args, count, heartbeats, work)
        row["node"] = node
        row.setdefault("load", node["load"])
        log(f"N={count} node_exporter {describe(node)} load={load_text()}")
        if "exporter" in row:
            log(f"N={count} ratio scrape_median/node_exporter_median="
                f"{row['exporter']['median_ms'] / node['median_ms']:.2f}")
    if not args.keep_files:
        shutil.rmtree(work, ignore_errors=True)
    return row, heartbeats, text


def table(rows, markdown):
    header = ["N", "floor ms", "scrape ms", "p99 ms", "scrape/floor", "CPU ms/scrape",
              "gzip KiB", "RSS MiB", "HWM MiB", "pair ms", "pair CPU ms", "idle ticks",
              "node_exporter ms", "ours/node", "load1"]

    def cell(value, digits=1):
        return "-" if value is None else f"{value:.{digits}f}"

    body = []
    for row in rows:
        ours, floor, node = row.get("exporter"), row.get("floor"), row.get("node")
        body.append([
            str(row["n"]),
            cell(floor and floor["median_ms"]),
            cell(ours and ours["median_ms"]),
            cell(ours and ours["p99_ms"]),
            cell(ours and ours["median_ms"] / floor["median_ms"], 2),
            cell(ours and ours["cpu_ms"]),
            cell(ours and ours["gzip_bytes"] and ours["gzip_bytes"] / 1024),
            cell(ours and ours["rss_mib"]),
            cell(ours and ours["hwm_mib"]),
            cell(ours and ours["pair"]["median_ms"]),
            cell(ours and ours["pair"]["cpu_ms"]),
            "-" if not ours else str(ours["idle_ticks"]),
            cell(node and node["median_ms"]),
            cell(ours and node and ours["median_ms"] / node["median_ms"], 2),
            row["load"].split()[0],
        ])
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(cells, widths))
                     for cells in [header] + body)


def parse_sizes(text):
    if not text.strip():
        return []
    sizes = [int(part) for part in text.split(",")]
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be positive integers, got {text!r}")
    return sizes


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exporter", required=True, help="the heartbeat_exporter binary")
    parser.add_argument("--floor", required=True, help="the heartbeat_floor binary")
    parser.add_argument("--sizes", type=parse_sizes, default=[1000, 10000, 100000],
                        help="heartbeat counts to scrape the exporter at (default 1000,10000,"
                             "100000)")
    parser.add_argument("--scrapes", type=int, default=30, help="timed scrapes per size")
    parser.add_argument("--pairs", type=int, default=10, help="concurrent pairs per size")
    parser.add_argument("--idle-seconds", type=float, default=5)
    parser.add_argument("--node-exporter", default="/usr/bin/prometheus-node-exporter")
    parser.add_argument("--node-sizes", type=parse_sizes, default=[1000, 10000],
                        help="heartbeat counts to scrape node_exporter at; empty to skip")
    parser.add_argument("--max-sleepers", type=int, default=10000,
                        help="live processes to spawn at most; heartbeats reuse them round-robin")
    parser.add_argument("--dump-series", metavar="FILE",
                        help="write the normalised exposition at the largest N here")
    parser.add_argument("--work-dir", metavar="DIR",
                        help="where to write heartbeats and logs (kept); default a temp dir "
                             "(removed)")
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    args = parser.parse_args()
    if args.scrapes < 1 or args.pairs < 1:
        parser.error("--scrapes and --pairs must be at least 1")
    if not args.sizes:
        parser.error("--sizes must name at least one size")
    for binary in (args.exporter, args.floor) + ((args.node_exporter,) if args.node_sizes else ()):
        if not os.access(binary, os.X_OK):
            parser.error(f"{binary} is not an executable file")
    args.keep_files = args.work_dir is not None
    return args


def main():
    args = parse_args()
    # SIGTERM unwinds like Ctrl-C, so that the finally below kills the sleepers and servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    version = subprocess.run([args.exporter, "--version"], capture_output=True, text=True)
    log(f"exporter: {args.exporter}: {(version.stdout or version.stderr).strip()}")
    log(f"cpus={os.cpu_count()} kernel={os.uname().release} load average {load_text()}")
    work = args.work_dir or tempfile.mkdtemp(prefix="heartbeat_bench.")
    os.makedirs(work, exist_ok=True)
    sleepers = Sleepers()
    rows = []
    try:
        every_size = sorted(set(args.sizes) | set(args.node_sizes))
        sleepers.start(min(max(every_size), args.max_sleepers))
        log(f"started {len(sleepers.pids)} sleepers (load average {load_text()})")
        largest = max(args.sizes)
        for count in every_size:
            row, heartbeats, text = benchmark_size(args, count, sleepers, work)
            rows.append(row)
            if args.dump_series and count == largest:
                with open(args.dump_series, "w") as out:
                    out.write(normalise(text, heartbeats))
                log(f"wrote the normalised series at N={count} to {args.dump_series}")
        # Taken before the sleepers go, whose exit would count in it.
        end_load = load_text()
    except Failure as failure:
        print(f"FAIL: {failure}", file=sys.stderr, flush=True)
        return 1
    finally:
        sleepers.stop()
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nheartbeat_exporter scale benchmark: {args.scrapes} scrapes per size, "
          f"{args.pairs} pairs, medians in ms; load average at the end {end_load}")
    print(table(rows, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
