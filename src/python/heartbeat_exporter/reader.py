"""Reads heartbeat files, with the same verdicts as the exporter's C++ reader.

    from heartbeat_exporter.reader import read_heartbeat

    data = read_heartbeat("/var/lib/heartbeats/my_server.json")  # HeartbeatData, or None
"""

import datetime
import enum
import errno
import math
import os
import re
import stat
from dataclasses import dataclass
from typing import Any, Dict, Optional, Union

from heartbeat_exporter._json import JsonError, JsonObject, parse_json
from heartbeat_exporter.timestamp import parse_timestamp

__all__ = [
    "MAX_HEARTBEAT_BYTES",
    "MAX_DURATION_SECONDS",
    "MAX_EXIT_CODE",
    "MAX_PID",
    "HeartbeatData",
    "ReadError",
    "ReadFailure",
    "ReadResult",
    "parse_heartbeat",
    "read_heartbeat",
    "read_heartbeat_result",
]

# A heartbeat file larger than this is not read: heartbeats are about 150 bytes, and a bound
# keeps one hostile file from costing the reader its memory or time.
MAX_HEARTBEAT_BYTES = 64 * 1024

# The pid range Linux can hand out (PID_MAX_LIMIT on 64-bit).
MAX_PID = 4194304

# A process's exit status is 8 bits.
MAX_EXIT_CODE = 255
# The longest run a heartbeat may report, about 31 years: every duration up to it is exact in
# microseconds in a double.
MAX_DURATION_SECONDS = 1e9

_INT64_END = 2**63
_UINT64_END = 2**64
_SURROGATE = re.compile("[\ud800-\udfff]")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class HeartbeatData:
    """One valid heartbeat, as a monitored process wrote it.

    The fields are in the order the writers put them in the file. A field that a heartbeat may
    leave out defaults to None and is not written when None.
    """

    process_key: Optional[str]
    pid: int
    timestamp: datetime.datetime  # aware, in UTC when read
    status: str
    iteration: Optional[int] = None
    # Who holds pid, so that a reader in another pid namespace finds the process: the inode of
    # /proc/<pid>/ns/pid and the start time in clock ticks since boot (field 22 of
    # /proc/<pid>/stat). Left out when the writer cannot read them.
    pid_namespace: Optional[int] = None
    start_ticks: Optional[int] = None
    # A job's run (heartbeatctl run): exit_code (0..255) marks a run's final heartbeat and comes
    # with duration_seconds (to the microsecond); started_at and last_success (the start of the
    # latest successful run) are on a run's heartbeats from its start.
    exit_code: Optional[int] = None
    started_at: Optional[datetime.datetime] = None
    duration_seconds: Optional[datetime.timedelta] = None
    last_success: Optional[datetime.datetime] = None


class ReadError(enum.Enum):
    """Why a heartbeat could not be read; the value is the exporter's `reason` label."""

    MISSING = "missing"  # the file does not exist
    UNREADABLE = "unreadable"  # open or read failed (permissions, I/O error, ...)
    NOT_REGULAR_FILE = "not_regular_file"  # FIFO, device, socket, folder
    # A symlink in a heartbeat folder that does not follow them: the exporter's verdict, and the
    # writer's for a key's previous heartbeat (start_run); read_heartbeat(path) follows symlinks,
    # as the exporter does for a configured heartbeat_path.
    SYMLINK = "symlink"
    TOO_LARGE = "too_large"  # larger than MAX_HEARTBEAT_BYTES
    INVALID_JSON = "invalid_json"  # not well-formed JSON
    NOT_OBJECT = "not_object"  # well-formed, but the top level is not an object
    MISSING_FIELD = "missing_field"  # pid, timestamp or status is absent
    INVALID_FIELD = "invalid_field"  # wrong type, out of range, or appears twice
    # timestamp, started_at or last_success is a string that parse_timestamp does not accept
    INVALID_TIMESTAMP = "invalid_timestamp"


@dataclass(frozen=True)
class ReadFailure:
    reason: ReadError
    message: str  # for people, e.g. 'field "pid": expected an integer'


@dataclass(frozen=True)
class ReadResult:
    """Exactly one of heartbeat and failure is set."""

    heartbeat: Optional[HeartbeatData] = None
    failure: Optional[ReadFailure] = None

    @property
    def ok(self) -> bool:
        return self.heartbeat is not None


def read_heartbeat(path: Union[str, "os.PathLike[str]"]) -> Optional[HeartbeatData]:
    """The heartbeat in the file, or None when it is missing or not a valid heartbeat."""
    return read_heartbeat_result(path).heartbeat


def read_heartbeat_result(path: Union[str, "os.PathLike[str]"]) -> ReadResult:
    """Reads and validates one heartbeat file; never raises for what the file holds or lacks.

    Never blocks on a FIFO and never reads more than MAX_HEARTBEAT_BYTES (+ 1): the file is
    opened with O_NONBLOCK and checked with fstat before it is read.
    """
    name = os.fspath(path)
    return _read_heartbeat_file(name, name, dir_fd=None, follow_symlinks=True)


def _read_heartbeat_file(name: str, path: str, dir_fd: Optional[int],
                         follow_symlinks: bool) -> ReadResult:
    """read_heartbeat_result for name in the folder open as dir_fd (None: name is a path), with
    path naming it in messages. Without follow_symlinks, a symlink at name is never opened (the
    writer's read of a key's previous heartbeat, as the C++ HeartbeatFolder::read)."""
    quoted = f'"{path}"'
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    try:
        fd = os.open(name, flags if follow_symlinks else flags | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError as error:
        if not follow_symlinks and error.errno == errno.ELOOP:
            return _fail(ReadError.SYMLINK,
                         f"heartbeat file {quoted} is a symbolic link and is not followed")
        message = f"opening heartbeat file {quoted}: {os.strerror(error.errno)}"
        # ENOTDIR means a parent is a regular file, so the heartbeat cannot exist either.
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            return _fail(ReadError.MISSING, message)
        return _fail(ReadError.UNREADABLE, message)
    try:
        try:
            info = os.fstat(fd)
        except OSError as error:
            return _fail(ReadError.UNREADABLE,
                         f"inspecting heartbeat file {quoted}: {os.strerror(error.errno)}")
        if not stat.S_ISREG(info.st_mode):
            return _fail(ReadError.NOT_REGULAR_FILE,
                         f"heartbeat file {quoted} is not a regular file")
        too_large = f"heartbeat file {quoted} is larger than {MAX_HEARTBEAT_BYTES} bytes"
        if info.st_size > MAX_HEARTBEAT_BYTES:
            return _fail(ReadError.TOO_LARGE, too_large)
        # A file that grew after fstat is still bounded by reading one byte past the limit.
        chunks = []
        total = 0
        try:
            while total <= MAX_HEARTBEAT_BYTES:
                chunk = os.read(fd, MAX_HEARTBEAT_BYTES + 1 - total)
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
        except OSError as error:
            return _fail(ReadError.UNREADABLE,
                         f"reading heartbeat file {quoted}: {os.strerror(error.errno)}")
        if total > MAX_HEARTBEAT_BYTES:
            return _fail(ReadError.TOO_LARGE, too_large)
    finally:
        os.close(fd)

    result = parse_heartbeat(b"".join(chunks))
    if result.failure is not None:
        return _fail(result.failure.reason, f"heartbeat file {quoted}: {result.failure.message}")
    return result


def parse_heartbeat(content: Union[bytes, str]) -> ReadResult:
    """Validates heartbeat JSON that is already in memory (read_heartbeat_result after I/O)."""
    if isinstance(content, str):
        content = content.encode("utf-8", "surrogatepass")
    # JSON allows a raw NUL byte nowhere; the C++ reader refuses it before parsing.
    nul = content.find(b"\0")
    if nul >= 0:
        return _fail(ReadError.INVALID_JSON, f"invalid JSON: NUL byte at offset {nul}")
    # RapidJSON skips one byte order mark at the start, so the C++ reader accepts it.
    start = len(_BOM) if content.startswith(_BOM) else 0
    try:
        text = content[start:].decode("utf-8")
        document = parse_json(text)
    except UnicodeDecodeError as error:
        return _fail(ReadError.INVALID_JSON,
                     f"invalid JSON: Invalid encoding in string. at offset {start + error.start}")
    except JsonError as error:
        offset = start + len(text[: error.offset].encode("utf-8", "surrogatepass"))
        return _fail(ReadError.INVALID_JSON, f"invalid JSON: {error.message} at offset {offset}")
    if not isinstance(document, JsonObject):
        return _fail(ReadError.NOT_OBJECT, "top level is not a JSON object")
    return _validate(document)


_KNOWN_FIELDS = ("pid", "timestamp", "status", "process_key", "iteration", "pid_namespace",
                 "start_ticks", "exit_code", "started_at", "duration_seconds", "last_success")


def _validate(document: JsonObject) -> ReadResult:
    fields: Dict[str, Any] = {}
    for name, value in document:
        # Unknown fields are skipped so that newer writers can add some without breaking readers.
        if name not in _KNOWN_FIELDS:
            continue
        # Which of two pids was meant would be a guess, so a repeated field is an error.
        if name in fields:
            return _invalid_field(name, "duplicate field")
        fields[name] = value
    for name in ("pid", "timestamp", "status"):
        if name not in fields:
            return _fail(ReadError.MISSING_FIELD, f'field "{name}": missing')

    pid = fields["pid"]
    if not _is_integer(pid):
        return _invalid_field("pid", "expected an integer")
    if not 1 <= pid <= MAX_PID:
        return _invalid_field("pid", f"outside 1..{MAX_PID}")

    text = fields["timestamp"]
    if not isinstance(text, str):
        return _invalid_field("timestamp", "expected a string")
    timestamp = parse_timestamp(text)
    if timestamp is None:
        return _fail(ReadError.INVALID_TIMESTAMP, 'field "timestamp": not an ISO 8601 timestamp')

    status = fields["status"]
    if not isinstance(status, str):
        return _invalid_field("status", "expected a string")
    if _SURROGATE.search(status):
        return _invalid_field("status", "not valid UTF-8")

    process_key = fields.get("process_key")
    if "process_key" in fields:
        if not isinstance(process_key, str):
            return _invalid_field("process_key", "expected a string")
        if _SURROGATE.search(process_key):
            return _invalid_field("process_key", "not valid UTF-8")

    iteration = fields.get("iteration")
    # A float never passes for a counter, not even 1.0, and neither does true.
    if "iteration" in fields and not (_is_integer(iteration) and 0 <= iteration < _UINT64_END):
        return _invalid_field("iteration", "expected a non-negative integer")

    # Whole numbers as iteration is; a bad one fails the heartbeat, as any bad field does.
    identity: Dict[str, Optional[int]] = {}
    for name in ("pid_namespace", "start_ticks"):
        value = fields.get(name)
        if name in fields and not (_is_integer(value) and 0 <= value < _UINT64_END):
            return _invalid_field(name, "expected a non-negative integer")
        identity[name] = value

    run: Dict[str, Any] = {}
    failure = _read_run_fields(fields, run)
    if failure is not None:
        return failure
    return ReadResult(heartbeat=HeartbeatData(process_key=process_key, pid=pid,
                                              timestamp=timestamp, status=status,
                                              iteration=iteration, **identity, **run))


def _read_run_fields(fields: Dict[str, Any], run: Dict[str, Any]) -> Optional[ReadResult]:
    """The fields of a job's run, into run; a failure names the first that is wrong."""
    if "exit_code" in fields:
        code = fields["exit_code"]
        if not _is_integer(code):
            return _invalid_field("exit_code", "expected an integer")
        if not 0 <= code <= MAX_EXIT_CODE:
            return _invalid_field("exit_code", f"outside 0..{MAX_EXIT_CODE}")
        run["exit_code"] = code
    failure = _read_timestamp_field(fields, "started_at", run)
    if failure is not None:
        return failure
    if "duration_seconds" in fields:
        value = fields["duration_seconds"]
        if type(value) not in (int, float):
            return _invalid_field("duration_seconds", "expected a number")
        seconds = float(value)
        if not 0 <= seconds <= MAX_DURATION_SECONDS:
            return _invalid_field("duration_seconds", "outside 0..1e9")
        # Half up, from the same double as the C++ reader.
        run["duration_seconds"] = datetime.timedelta(
            microseconds=math.floor(seconds * 1e6 + 0.5))
    return _read_timestamp_field(fields, "last_success", run)


def _read_timestamp_field(fields: Dict[str, Any], name: str,
                          run: Dict[str, Any]) -> Optional[ReadResult]:
    if name not in fields:
        return None
    text = fields[name]
    if not isinstance(text, str):
        return _invalid_field(name, "expected a string")
    run[name] = parse_timestamp(text)
    if run[name] is None:
        return _fail(ReadError.INVALID_TIMESTAMP, f'field "{name}": not an ISO 8601 timestamp')
    return None


def _is_integer(value: Any) -> bool:
    # The parser keeps whole numbers as int only while they fit in int64 or uint64; bool is an
    # int subclass, but true is not a number.
    return type(value) is int


def _invalid_field(name: str, problem: str) -> ReadResult:
    return _fail(ReadError.INVALID_FIELD, f'field "{name}": {problem}')


def _fail(reason: ReadError, message: str) -> ReadResult:
    return ReadResult(failure=ReadFailure(reason, message))
