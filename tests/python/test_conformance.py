"""The fixtures in tests/conformance/, which the C++ tests read too
(tests/heartbeat/conformance_test.cc): both implementations must give each the same verdict, so
that they cannot drift apart."""

import dataclasses
import datetime
import json
import os
import pathlib

import pytest

from heartbeat_exporter.reader import HeartbeatData, read_heartbeat, read_heartbeat_result
from heartbeat_exporter.timestamp import format_timestamp, parse_timestamp
from heartbeat_exporter.writer import (
    HeartbeatWriter,
    is_valid_process_key,
    remove_heartbeat_file,
    serialize_heartbeat,
    write_heartbeat_file,
)

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "conformance"
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def load(name):
    with open(FIXTURES / name, encoding="utf-8") as f:
        return json.load(f)


def cases(name, key="cases"):
    return [pytest.param(case, id=case.get("name", case.get("text"))) for case in load(name)[key]]


def content_of(content):
    """A case's "content": a string, or a list of strings and [string, count] repeats."""
    if isinstance(content, str):
        content = [content]
    text = "".join(part if isinstance(part, str) else part[0] * part[1] for part in content)
    # surrogatepass: a lone surrogate in the fixture stands for the bytes RapidJSON makes of it.
    return text.encode("utf-8", "surrogatepass")


def make_case_file(folder, case):
    path = folder / "case.json"
    special = case.get("special")
    if special == "folder":
        path.mkdir()
    elif special == "fifo":
        os.mkfifo(path, 0o644)
    elif special is None:
        if "file" in case:
            content = (FIXTURES / "heartbeats" / case["file"]).read_bytes()
        else:
            content = content_of(case["content"])
        path.write_bytes(content.ljust(case.get("pad_to", 0), b" "))
    return path


def run_fields(heartbeat):
    """The run's fields of a fixture heartbeat, absent or null when it has none; duration_micros
    stands for duration_seconds."""
    def timestamp(name):
        return None if heartbeat.get(name) is None else parse_timestamp(heartbeat[name])

    micros = heartbeat.get("duration_micros")
    return {"exit_code": heartbeat.get("exit_code"), "started_at": timestamp("started_at"),
            "duration_seconds": None if micros is None else datetime.timedelta(microseconds=micros),
            "last_success": timestamp("last_success")}


def unix_micros(timestamp):
    return (timestamp - _EPOCH) // datetime.timedelta(microseconds=1)


@pytest.mark.parametrize("case", cases("heartbeats.json"))
def test_heartbeat_file_gets_the_fixture_verdict_message_and_data(tmp_path, case):
    path = make_case_file(tmp_path, case)
    result = read_heartbeat_result(path)
    assert read_heartbeat(path) == result.heartbeat
    if case["reason"] == "ok":
        assert result.failure is None
        expected = case["heartbeat"]
        data = result.heartbeat
        assert data.process_key == expected["process_key"]
        assert data.pid == expected["pid"]
        assert format_timestamp(data.timestamp) == expected["timestamp"]
        assert data.timestamp.tzinfo == datetime.timezone.utc
        assert data.status == expected["status"]
        assert data.iteration == expected["iteration"]
        assert data.pid_namespace == expected.get("pid_namespace")
        assert data.start_ticks == expected.get("start_ticks")
        assert data == dataclasses.replace(data, **run_fields(expected))
        return
    assert result.heartbeat is None
    assert result.failure.reason.value == case["reason"]
    message = result.failure.message
    if "message" in case:
        assert message == case["message"].replace("{path}", str(path))
    if "message_prefix" in case:
        assert message.startswith(case["message_prefix"].replace("{path}", str(path)))


@pytest.mark.parametrize("case", cases("timestamps.json", "valid"))
def test_timestamp_parses_to_the_fixture_instant(case):
    parsed = parse_timestamp(case["text"])
    assert parsed is not None
    assert unix_micros(parsed) == case["unix_micros"]
    assert format_timestamp(parsed) == case["utc"]


@pytest.mark.parametrize("text", load("timestamps.json")["invalid"])
def test_timestamp_the_fixture_calls_invalid_is_rejected(text):
    assert parse_timestamp(text) is None


@pytest.mark.parametrize("key", load("process_keys.json")["valid"])
def test_valid_process_key_is_accepted(key):
    assert is_valid_process_key(key)
    HeartbeatWriter(heartbeat_dir="unused", process_key=key)


@pytest.mark.parametrize("key", load("process_keys.json")["invalid"])
def test_invalid_process_key_raises_value_error_before_touching_the_folder(tmp_path, key):
    assert not is_valid_process_key(key)
    folder = tmp_path / "heartbeats"
    data = HeartbeatData(process_key=None, pid=1, status="running",
                         timestamp=datetime.datetime.now(datetime.timezone.utc))
    with pytest.raises(ValueError, match="invalid process key"):
        HeartbeatWriter(heartbeat_dir=folder, process_key=key)
    with pytest.raises(ValueError, match="invalid process key"):
        write_heartbeat_file(folder, key, data)
    with pytest.raises(ValueError, match="invalid process key"):
        remove_heartbeat_file(folder, key)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("case", cases("serialized.json"))
def test_serialize_heartbeat_writes_the_fixture_bytes(case):
    heartbeat = dict(case["heartbeat"])
    heartbeat["timestamp"] = parse_timestamp(heartbeat["timestamp"])
    heartbeat.update(run_fields(heartbeat))
    heartbeat.pop("duration_micros", None)
    assert serialize_heartbeat(HeartbeatData(**heartbeat)) == case["json"].encode("utf-8")


def serialized_case(name):
    (case,) = [case for case in load("serialized.json")["cases"] if case["name"] == name]
    return case["json"].encode("utf-8")


def test_a_run_writes_the_fixture_bytes_that_the_cpp_serializer_writes(tmp_path, monkeypatch):
    """start_run() and finish_run(3) with the fixture's inputs (pid, identity, clocks, and a
    previous heartbeat with last_success) write exactly the fixture's bytes, which
    reader_test checks serialize_heartbeat writes in C++ for the same heartbeat."""
    from heartbeat_exporter import writer as writer_module

    times = iter([_EPOCH, parse_timestamp("2026-02-05T02:00:00Z"),
                  parse_timestamp("2026-02-05T02:00:17.25Z")])
    clock_ns = iter([5 * 10**9, 5 * 10**9 + 17_250_000_999])  # floored to the microsecond
    monkeypatch.setattr(writer_module, "_now", lambda: next(times))
    monkeypatch.setattr(writer_module, "_monotonic_ns", lambda: next(clock_ns))
    monkeypatch.setattr(writer_module, "_process_identity", lambda _: (4026532841, 99))
    monkeypatch.setattr(writer_module, "_identity_cache", None)
    monkeypatch.setattr(os, "getpid", lambda: 4242)
    writer = HeartbeatWriter(tmp_path, "backup")
    writer.beat(iteration=5)  # the run's heartbeats are then the writer's sixth and seventh
    write_heartbeat_file(tmp_path, "backup", HeartbeatData(
        process_key="backup", pid=1, timestamp=_EPOCH, status="completed",
        last_success=parse_timestamp("2026-02-04T02:00:00Z")))
    writer.start_run()
    assert (tmp_path / "backup.json").read_bytes() == serialized_case(
        "a run's running heartbeat as start_run writes it: the identity, then started_at and "
        "last_success")
    writer.finish_run(3)
    assert (tmp_path / "backup.json").read_bytes() == serialized_case(
        "the same run's final heartbeat as finish_run(3) writes it: every field")
