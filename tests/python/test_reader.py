"""heartbeat_exporter.reader beyond the shared fixtures: the API and the errors of the system."""

import os
import pathlib
import shutil
import tempfile

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
        "missing", "unreadable", "not_regular_file", "symlink", "too_large", "invalid_json",
        "not_object", "missing_field", "invalid_field", "invalid_timestamp"]
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


def read_as_nobody(path):
    """read_heartbeat_result(path) in a child that runs as the user nobody: (reason, message),
    or ("ok", "")."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            failure = read_heartbeat_result(path).failure
            answer = "ok|" if failure is None else f"{failure.reason.value}|{failure.message}"
            os.write(write_end, answer.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as answer:
        text = answer.read().decode()
    os.waitpid(child, 0)
    return tuple(text.split("|", 1))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: reads as the user nobody")
def test_a_file_the_reader_may_not_open_is_unreadable():
    # Not under tmp_path, whose parent only root may enter.
    folder = pathlib.Path(tempfile.mkdtemp())
    try:
        os.chmod(folder, 0o755)
        (folder / "open.json").write_bytes(HEARTBEAT)
        secret = folder / "secret.json"
        secret.write_bytes(HEARTBEAT)
        os.chmod(secret, 0o600)
        assert read_as_nobody(folder / "open.json") == ("ok", "")
        assert read_as_nobody(secret) == (
            "unreadable", f'opening heartbeat file "{secret}": Permission denied')
    finally:
        shutil.rmtree(folder)


def test_parse_heartbeat_takes_bytes_or_text():
    assert parse_heartbeat(HEARTBEAT).heartbeat == parse_heartbeat(HEARTBEAT.decode()).heartbeat
    assert parse_heartbeat(HEARTBEAT).heartbeat.status == "running"
    assert parse_heartbeat("[]").failure.message == "top level is not a JSON object"


def test_invalid_json_says_where_in_bytes():
    result = parse_heartbeat('{"status": "\u00e9\u00e9", x}'.encode())
    assert result.failure.reason is ReadError.INVALID_JSON
    assert result.failure.message == "invalid JSON: Missing a name for object member. at offset 19"
