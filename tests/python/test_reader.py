"""heartbeat_exporter.reader beyond the shared fixtures: the API and the errors of the system."""

import os
import subprocess
import sys

import pytest

from heartbeat_exporter.reader import (
    MAX_HEARTBEAT_BYTES,
    MAX_PID,
    ReadError,
    parse_heartbeat,
    read_heartbeat,
    read_heartbeat_result,
)

HEARTBEAT = b'{"pid": 12345, "timestamp": "2026-02-05T06:17:29Z", "status": "running"}'


def test_read_errors_are_the_exporters_reason_labels():
    assert [error.value for error in ReadError] == [
        "missing", "unreadable", "not_regular_file", "too_large", "invalid_json", "not_object",
        "missing_field", "invalid_field", "invalid_timestamp"]
    assert (MAX_HEARTBEAT_BYTES, MAX_PID) == (65536, 4194304)


def test_read_heartbeat_returns_none_for_a_missing_or_invalid_file(tmp_path):
    assert read_heartbeat(tmp_path / "absent.json") is None
    (tmp_path / "bad.json").write_text("{}")
    assert read_heartbeat(tmp_path / "bad.json") is None
    result = read_heartbeat_result(tmp_path / "bad.json")
    assert not result.ok
    assert result.failure.reason is ReadError.MISSING_FIELD


def test_a_path_below_a_regular_file_is_missing(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    result = read_heartbeat_result(tmp_path / "afile" / "x.json")
    assert result.failure.reason is ReadError.MISSING
    assert result.failure.message.endswith(": Not a directory")


def test_a_symlink_loop_is_unreadable_with_the_systems_error_text(tmp_path):
    os.symlink(tmp_path / "b.json", tmp_path / "a.json")
    os.symlink(tmp_path / "a.json", tmp_path / "b.json")
    result = read_heartbeat_result(tmp_path / "a.json")
    assert result.failure.reason is ReadError.UNREADABLE
    assert result.failure.message == (
        f'opening heartbeat file "{tmp_path / "a.json"}": Too many levels of symbolic links')


def test_a_heartbeat_path_is_read_through_a_symlink_as_the_cpp_reader_does(tmp_path):
    (tmp_path / "real.json").write_bytes(HEARTBEAT)
    os.symlink(tmp_path / "real.json", tmp_path / "link.json")
    assert read_heartbeat(tmp_path / "link.json").pid == 12345


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: reads as the user nobody")
def test_a_file_the_reader_may_not_open_is_unreadable(tmp_path):
    path = tmp_path / "secret.json"
    path.write_bytes(HEARTBEAT)
    os.chmod(path, 0o600)
    os.chmod(tmp_path, 0o755)
    script = ("import sys; from heartbeat_exporter.reader import read_heartbeat_result as r; "
              "f = r(sys.argv[1]).failure; print(f.reason.value, f.message, sep='|')")
    output = subprocess.run([sys.executable, "-c", script, str(path)], user=65534, group=65534,
                            extra_groups=[], check=True, capture_output=True, text=True).stdout
    assert output.strip() == f'unreadable|opening heartbeat file "{path}": Permission denied'


def test_parse_heartbeat_takes_bytes_or_text():
    assert parse_heartbeat(HEARTBEAT).heartbeat == parse_heartbeat(HEARTBEAT.decode()).heartbeat
    assert parse_heartbeat(HEARTBEAT).heartbeat.status == "running"
    assert parse_heartbeat("[]").failure.message == "top level is not a JSON object"


def test_invalid_json_says_where_in_bytes():
    result = parse_heartbeat('{"status": "\u00e9\u00e9", x}'.encode())
    assert result.failure.reason is ReadError.INVALID_JSON
    assert result.failure.message == "invalid JSON: Missing a name for object member. at offset 19"
