"""Heartbeats from the Python writer, read by the built exporter over real HTTP.

8 threads beat 1,000 times each (through 4 writers, so that threads share writers as well as the
folder) while 16 clients scrape /metrics from another process (scrape_load.py): every scrape must
call every process healthy, every read of a heartbeat file by this process must succeed (no torn
file), and the exporter must count no read error. And a job's runs (start_run, finish_run) show
as the exporter shows heartbeatctl run's. Needs the exporter binary: ctest passes it in
HEARTBEAT_EXPORTER_BINARY.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from processes import die_with_parent  # noqa: E402

from heartbeat_exporter.reader import ReadError, read_heartbeat_result  # noqa: E402
from heartbeat_exporter.writer import HeartbeatWriter  # noqa: E402
from scrape_load import HTTP_TIMEOUT, scrape, states  # noqa: E402

EXPORTER = os.environ.get("HEARTBEAT_EXPORTER_BINARY")
THREADS = 8
BEATS_PER_THREAD = 1000
WRITERS = 4
SCRAPERS = 16
START_TIMEOUT = 20

_READ_ERRORS = re.compile(r'^heartbeat_exporter_read_errors_total\{reason="([a-z_]+)"\} (\S+)$',
                          re.MULTILINE)


def _yield_cpu_to_writers():
    """The exporter and the scrapers run at nice 10, so that on two cores the beats end soon;
    they still scrape without pause all along, hundreds of times a second (tests/README.md)."""
    die_with_parent()
    os.nice(10)


@pytest.fixture
def exporter(tmp_path):
    """Starts the exporter over tmp_path/heartbeats; yields (folder, metrics URL)."""
    if not EXPORTER:
        pytest.skip("HEARTBEAT_EXPORTER_BINARY is not set (ctest sets it to the built exporter)")
    folder = tmp_path / "heartbeats"
    folder.mkdir()
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"heartbeat_dirs": [{"path": str(folder)}]}))
    log_path = tmp_path / "exporter.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [EXPORTER, f"--config.file={config}", "--web.listen-address=127.0.0.1:0"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=_yield_cpu_to_writers)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        port = None
        while port is None:
            match = re.search(r"address=127\.0\.0\.1:(\d+)", log_path.read_text())
            if match:
                port = match.group(1)
            elif process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the exporter did not start: {log_path.read_text()}")
            else:
                time.sleep(0.05)
        yield folder, f"http://127.0.0.1:{port}/metrics"
    finally:
        process.terminate()
        try:
            assert process.wait(timeout=10) == 0, log_path.read_text()
        finally:
            process.kill()


def test_python_heartbeats_stay_healthy_under_8_writer_threads_and_16_scrapers(exporter, capsys):
    folder, url = exporter
    writers = [HeartbeatWriter(heartbeat_dir=folder, process_key=f"py_worker_{i}")
               for i in range(WRITERS)]
    for writer in writers:
        writer.beat()
    keys = [writer.process_key for writer in writers]

    done = threading.Event()
    torn = []
    reads = [0]

    def read_until_done():
        while not done.is_set():
            for writer in writers:
                result = read_heartbeat_result(writer.path)
                if not result.ok:
                    torn.append(result.failure.message)
                reads[0] += 1
            time.sleep(0.001)  # often enough to meet renames, rarely enough to leave the GIL

    def beat(writer):
        for _ in range(BEATS_PER_THREAD):
            writer.beat()

    scrapers = subprocess.Popen(
        [sys.executable, os.path.join(os.path.dirname(__file__), "scrape_load.py"), url,
         str(SCRAPERS), *keys],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, preexec_fn=_yield_cpu_to_writers)
    try:
        reader = threading.Thread(target=read_until_done)
        reader.start()
        beaters = [threading.Thread(target=beat, args=(writers[i % WRITERS],))
                   for i in range(THREADS)]
        started = time.monotonic()
        for thread in beaters:
            thread.start()
        for thread in beaters:
            thread.join()
        elapsed = time.monotonic() - started
        done.set()
        reader.join()
        output, _ = scrapers.communicate(timeout=HTTP_TIMEOUT + 10)
    finally:
        scrapers.kill()  # a no-op once it has ended; else it would scrape on past this test
        done.set()
    load = json.loads(output)

    beats = THREADS * BEATS_PER_THREAD
    with capsys.disabled():  # the figures for tests/README.md, also when the test passes
        scrapes = load["scrapes"]
        print(f"\n{beats} beats from {THREADS} threads in {elapsed:.1f} s "
              f"({beats / elapsed:.0f}/s); "
              f"{scrapes} scrapes by {SCRAPERS} clients ({scrapes / elapsed:.0f}/s), "
              f"{load['problem_count']} not all healthy; {reads[0]} reads, {len(torn)} torn")
    assert scrapers.returncode == 0
    assert load["problems"] == []
    assert load["scrapes"] >= SCRAPERS
    assert torn == []
    for writer in writers:
        assert writer.iteration == 1 + BEATS_PER_THREAD * THREADS // WRITERS
        assert read_heartbeat_result(writer.path).heartbeat.iteration == writer.iteration
    assert sorted(os.listdir(folder)) == sorted(f"{key}.json" for key in keys)
    metrics = scrape(url)
    assert states(metrics) == {key: "healthy" for key in keys}
    read_errors = {reason: float(value) for reason, value in _READ_ERRORS.findall(metrics)}
    # The exporter exports every reason there is, and this package knows each of them.
    assert set(read_errors) == {reason.value for reason in ReadError}
    assert set(read_errors.values()) == {0.0}, read_errors


def _series(metrics, family):
    """{process: value} of one per-process family."""
    pattern = re.compile(rf'^{family}\{{process="([^"]*)"\}} (\S+)$', re.MULTILINE)
    return {process: float(value) for process, value in pattern.findall(metrics)}


def test_python_job_runs_show_as_completed_healthy_and_failed_with_their_exit_code(exporter):
    folder, url = exporter
    completed = HeartbeatWriter(heartbeat_dir=folder, process_key="py_job_completed")
    completed.start_run()
    completed.finish_run(0)
    failed = HeartbeatWriter(heartbeat_dir=folder, process_key="py_job_failed")
    failed.start_run()
    failed.finish_run(0)
    succeeded = read_heartbeat_result(failed.path).heartbeat.started_at
    failed.start_run()
    failed.finish_run(3)

    metrics = scrape(url)
    assert states(metrics) == {"py_job_completed": "healthy", "py_job_failed": "error_status"}
    assert _series(metrics, "heartbeat_exit_code") == {"py_job_completed": 0.0,
                                                       "py_job_failed": 3.0}
    last_success = _series(metrics, "heartbeat_last_success_timestamp_seconds")
    assert last_success["py_job_failed"] == succeeded.timestamp()
    completed_run = read_heartbeat_result(completed.path).heartbeat
    assert last_success["py_job_completed"] == completed_run.started_at.timestamp()
    durations = _series(metrics, "heartbeat_last_run_duration_seconds")
    assert durations["py_job_completed"] == completed_run.duration_seconds.total_seconds()
