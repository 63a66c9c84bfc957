#!/usr/bin/env python3
"""Instructions per scrape of a built heartbeat_exporter, counted by callgrind.

Writes N heartbeat files (each naming pid 1, which is always alive; with --jobs, every other one is a job's
final heartbeat, half completed, half failed), starts the exporter under
`valgrind --tool=callgrind` and takes one gzip scrape with every file read (cold), then five
with every file unchanged (warm). callgrind_control dumps the counters after start-up, after the
cold scrape and after the warm ones, so each phase is counted alone, all threads included.
Instruction counts barely move between runs on a shared VM, where wall time does.

  tests/bench/callgrind_scrape.py --exporter build/heartbeat_exporter --work-dir /tmp/cg [--jobs]

Prints one JSON line: gzip bytes of a scrape, instructions at start-up, of the cold scrape and
per warm scrape. The files are kept in --work-dir and reused, so that two builds are measured on
the same files. Python's standard library, valgrind and callgrind_control.
"""

import argparse
import datetime
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

WARM_SCRAPES = 5
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def write_heartbeats(folder, count, jobs, pid):
    os.mkdir(folder)
    now = datetime.datetime.now(datetime.timezone.utc)
    for i in range(count):
        data = {"process_key": f"w{i}", "pid": pid, "timestamp": now.isoformat(),
                "status": "running", "iteration": i}
        if jobs and i % 2 == 0:
            failed = i % 4 == 2
            data = {"process_key": f"w{i}", "pid": pid, "timestamp": now.isoformat(),
                    "status": "failed" if failed else "completed", "exit_code": 3 if failed else 0,
                    "started_at": (now - datetime.timedelta(seconds=17)).isoformat(),
                    "duration_seconds": 17.25,
                    "last_success": (now - datetime.timedelta(days=1)).isoformat()}
        with open(os.path.join(folder, f"w{i}.json"), "w") as f:
            json.dump(data, f)
    # Older than the heartbeat cache's "racily clean" second, so warm scrapes reuse every file.
    time.sleep(1.5)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url, headers=None):
    with _opener.open(urllib.request.Request(url, headers=headers or {}), timeout=600) as r:
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"{url} answered {r.status}")
        return body


def instructions(path):
    with open(path) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError(f"{path} has no totals")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exporter", required=True)
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--heartbeats", type=int, default=10000)
    parser.add_argument("--jobs", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    folder = os.path.join(args.work_dir, "beats")
    if not os.path.isdir(folder):
        write_heartbeats(folder, args.heartbeats, args.jobs, 1)
    config = os.path.join(args.work_dir, "config.json")
    with open(config, "w") as f:
        json.dump({"heartbeat_dirs": [{"path": folder, "timeout_seconds": 100000}]}, f)
    for old in glob.glob(os.path.join(args.work_dir, "callgrind.out.*")):
        os.remove(old)

    port = free_port()
    log = open(os.path.join(args.work_dir, "exporter.log"), "w")
    exporter = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={args.work_dir}/callgrind.out.%p",
         args.exporter, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(600):
            time.sleep(0.5)
            try:
                get(f"http://127.0.0.1:{port}/-/ready")
                break
            except OSError:
                pass
        else:
            sys.exit(f"the exporter did not get ready; see {log.name}")

        def dump(label):
            subprocess.run(["callgrind_control", "-d", label, str(exporter.pid)], check=True,
                           capture_output=True)

        def scrape():
            return len(get(f"http://127.0.0.1:{port}/metrics", {"Accept-Encoding": "gzip"}))

        dump("startup")
        size = scrape()
        dump("cold")
        for _ in range(WARM_SCRAPES):
            scrape()
        dump("warm")
    finally:
        exporter.send_signal(signal.SIGTERM)
        exporter.wait()
    counts = {}
    for path in glob.glob(os.path.join(args.work_dir, "callgrind.out.*")):
        with open(path) as f:
            desc = next((line for line in f if line.startswith("desc: Trigger")), "")
        for label in ("startup", "cold", "warm"):
            if desc.strip().endswith(f"dump {label}"):
                counts[label] = instructions(path)
    print(json.dumps({"gzip_bytes": size, "startup": counts["startup"], "cold": counts["cold"],
                      "warm_per_scrape": counts["warm"] // WARM_SCRAPES}))


if __name__ == "__main__":
    main()
