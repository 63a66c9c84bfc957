"""Writes heartbeat files: what a monitored Python program calls to prove it is alive.

    from heartbeat_exporter.writer import HeartbeatWriter

    writer = HeartbeatWriter(heartbeat_dir="/var/lib/heartbeats", process_key="my_server")
    writer.beat()  # status "running", iteration 1, 2, 3, ...
    writer.stop()  # removes the heartbeat file on a clean shutdown

A job (a program that runs, finishes and exits) reports its runs:

    writer.start_run()            # "running", with started_at and last_success
    writer.beat()                 # during a long run, as a daemon beats
    writer.finish_run(exit_code)  # "completed" (0) or "failed", with the exit code

The file is byte for byte what the C++ HeartbeatWriter writes for the same heartbeat.
"""

import dataclasses
import datetime
import errno
import os
import re
import secrets
import stat
import threading
import time
from types import TracebackType
from typing import Callable, Dict, List, Optional, Tuple, Type, Union

from heartbeat_exporter.reader import (
    MAX_DURATION_SECONDS,
    MAX_EXIT_CODE,
    HeartbeatData,
    _read_heartbeat_file,
)
from heartbeat_exporter.timestamp import format_timestamp

__all__ = [
    "HeartbeatWriter",
    "heartbeat_file_path",
    "is_valid_process_key",
    "remove_heartbeat_file",
    "serialize_heartbeat",
    "write_heartbeat_file",
]

PathType = Union[str, "os.PathLike[str]"]

# Process keys become file names: [A-Za-z0-9_.-]{1,128}, not starting with "." (which also rules
# out "." and "..").
_PROCESS_KEY = re.compile(r"(?!\.)[A-Za-z0-9_.-]{1,128}")
_UINT64_END = 2**64
_INT64_MIN = -(2**63)

# Escapes as RapidJSON's writer does: quote, backslash and C0 controls, short forms where JSON
# has them, else \u00XX with upper-case hex; everything else (DEL and non-ASCII) stays as it is.
_JSON_ESCAPES = {chr(c): f"\\u{c:04X}" for c in range(0x20)}
_JSON_ESCAPES.update({'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n",
                      "\r": "\\r", "\t": "\\t"})
_MUST_ESCAPE = re.compile('["\\\\\x00-\x1f]')
_SURROGATE = re.compile("[\ud800-\udfff]")

_FILE_MODE = 0o644  # before the umask, as the C++ writer creates it
_TEMP_ATTEMPTS = 100
# Symlinks followed while resolving a heartbeat folder, as the kernel's MAXSYMLINKS.
_MAX_SYMLINKS = 40


def is_valid_process_key(key: str) -> bool:
    """Whether key is [A-Za-z0-9_.-]{1,128} and does not start with "."."""
    return isinstance(key, str) and _PROCESS_KEY.fullmatch(key) is not None


def heartbeat_file_path(heartbeat_dir: PathType, process_key: str) -> str:
    """The heartbeat file for a key: <heartbeat_dir>/<process_key>.json."""
    return os.path.join(os.fspath(heartbeat_dir), process_key + ".json")


def serialize_heartbeat(data: HeartbeatData) -> bytes:
    """Renders a heartbeat in the file format, compact and in field order, e.g.

    {"process_key":"my_server","pid":12345,"timestamp":"2026-02-05T06:17:29.601049+00:00",
     "status":"running","iteration":42}

    Fields that are None are left out. Raises ValueError for a string that is not valid UTF-8
    (a lone surrogate) or an integer outside 64 bits, TypeError for a value of another type.
    """
    members = []
    for field in dataclasses.fields(data):
        value = getattr(data, field.name)
        if value is not None:
            members.append(f'"{field.name}":{_json_value(field.name, value)}')
    return ("{" + ",".join(members) + "}").encode("utf-8")


def write_heartbeat_file(heartbeat_dir: PathType, process_key: str, data: HeartbeatData) -> None:
    """Writes <heartbeat_dir>/<process_key>.json atomically.

    The content goes to a new temp file in the same folder, with an unpredictable name that
    starts with "." (so the exporter skips it), created with O_EXCL, and is then renamed over
    the target: a reader sees the old heartbeat or the new one, never part of one. The folder is
    created when missing and opened once; the temp file, the rename and the cleanup all happen
    relative to it, so a folder swapped for a symlink halfway cannot redirect them. A symlink at
    <process_key>.json is replaced, never followed.

    Raises ValueError for an invalid key (before touching the folder) or content that cannot be
    written, and OSError (whose filename is the heartbeat file, or the folder) when the write
    fails; the previous heartbeat is then left as it was.
    """
    _require_valid_key(process_key)
    content = serialize_heartbeat(data)
    target = heartbeat_file_path(heartbeat_dir, process_key)
    folder = _open_folder(heartbeat_dir, create=True)
    try:
        _write_atomically(folder, process_key + ".json", content, target)
    finally:
        os.close(folder)


def remove_heartbeat_file(heartbeat_dir: PathType, process_key: str) -> None:
    """Removes <heartbeat_dir>/<process_key>.json; a file (or folder) already gone is fine.

    Raises ValueError for an invalid key and OSError for any other failure.
    """
    _require_valid_key(process_key)
    target = heartbeat_file_path(heartbeat_dir, process_key)
    try:
        folder = _open_folder(heartbeat_dir, create=False)
    except FileNotFoundError:
        return
    try:
        os.unlink(process_key + ".json", dir_fd=folder)
    except FileNotFoundError:
        pass
    except OSError as error:
        raise _error(error, "removing heartbeat file", target) from error
    finally:
        os.close(folder)


class HeartbeatWriter:
    """Proves that a process is alive by rewriting <heartbeat_dir>/<process_key>.json.

    Each beat() writes the current time (UTC, microseconds), this process's pid, the status, an
    iteration counter that starts at 1 and grows by one per beat, and, where /proc tells them,
    this process's pid namespace and start ticks (so that an exporter in another pid namespace
    finds it). A job reports its runs with start_run() and finish_run(exit_code), as the C++
    writer and heartbeatctl run do. Safe to call from several threads. As a context manager,
    it stops (removes the heartbeat) when the block ends normally; when the block raises, the
    last heartbeat stays, so that the process shows as dead (STALE_PID) or hung (TIMED_OUT)
    rather than as cleanly stopped (NO_HEARTBEAT).
    """

    def __init__(self, heartbeat_dir: PathType, process_key: str) -> None:
        """Raises ValueError when process_key is not a valid key; touches no file."""
        _require_valid_key(process_key)
        self._dir = os.fspath(heartbeat_dir)
        self._process_key = process_key
        self._path = heartbeat_file_path(self._dir, process_key)
        self._lock = threading.Lock()
        self._iteration = 0
        self._run: Optional[_JobRun] = None  # the run in progress, if any

    @property
    def path(self) -> str:
        """The heartbeat file, <heartbeat_dir>/<process_key>.json."""
        return self._path

    @property
    def process_key(self) -> str:
        return self._process_key

    @property
    def iteration(self) -> int:
        """The iteration of the last successful beat, 0 before the first."""
        with self._lock:
            return self._iteration

    def beat(self, status: str = "running", iteration: Optional[int] = None) -> None:
        """Writes a heartbeat; any status but "running" shows as ERROR_STATUS.

        Without iteration, the writer's counter goes up by one; with it, that value is written
        and the counter continues from it. Raises ValueError or TypeError for a bad status or
        iteration (before touching the folder), and OSError when the write fails (see
        write_heartbeat_file); a failed beat does not advance the counter.
        """
        if not isinstance(status, str):
            raise TypeError(f"status must be a str, not {type(status).__name__}")
        if iteration is not None and not (type(iteration) is int and 0 <= iteration < _UINT64_END):
            raise ValueError(f"iteration must be an integer in 0..2**64-1, not {iteration!r}")
        with self._lock:
            next_iteration = self._iteration + 1 if iteration is None else iteration
            run_fields = self._run.fields() if self._run is not None else {}
            # The time is read under the lock so that a later iteration never has an earlier one.
            self._write(_now(), next_iteration, status=status, **run_fields)

    def start_run(self) -> None:
        """Starts a run: writes a "running" heartbeat that also holds the run's start
        (started_at) and the start of the latest successful run (last_success, carried forward
        from the heartbeat the key had before, when that is a valid heartbeat; it is read as the
        C++ writer reads it: never through a symlink, never blocking, at most 64 KiB). Each
        beat() until finish_run() holds them too. A run already in progress is replaced.

        Raises OSError when the write fails (see write_heartbeat_file); the run is then not
        started.
        """
        with self._lock:
            previous = self._previous_heartbeat()
            run = _JobRun(started_at=_now(), started_ns=_monotonic_ns(),
                          last_success=previous.last_success if previous is not None else None)
            self._write(run.started_at, self._iteration + 1, status="running", **run.fields())
            self._run = run

    def finish_run(self, exit_code: int) -> None:
        """Ends the run with the job's exit code (0..255, 128 + n for signal n): writes its final
        heartbeat, "completed" for 0 and "failed" otherwise, with exit_code, started_at,
        duration_seconds and last_success (this run's start when it succeeded). The exporter
        does not pid-check a final heartbeat: its process is meant to be gone.

        Raises RuntimeError without a run in progress, TypeError for an exit code that is not
        an int, ValueError for one outside 0..255, and OSError when the write fails; the run
        then stays in progress.
        """
        ended_ns = _monotonic_ns()
        with self._lock:
            if self._run is None:
                raise RuntimeError("finish_run() without a run in progress (start_run())")
            self._write(_now(), self._iteration + 1, **self._run.final_fields(exit_code, ended_ns))
            self._run = None

    def _write(self, timestamp: datetime.datetime, iteration: int, **fields: object) -> None:
        """Writes a heartbeat about the calling process; the caller holds the lock."""
        pid_namespace, start_ticks = _own_identity()
        data = HeartbeatData(process_key=self._process_key, pid=os.getpid(), timestamp=timestamp,
                             iteration=iteration, pid_namespace=pid_namespace,
                             start_ticks=start_ticks, **fields)  # type: ignore[arg-type]
        write_heartbeat_file(self._dir, self._process_key, data)
        # Committed only after the write, so a failed beat leaves no gap in the sequence.
        self._iteration = iteration

    def _previous_heartbeat(self) -> Optional[HeartbeatData]:
        """The key's valid heartbeat before a run, if any; a folder that cannot be opened has
        none, and neither has a symlink, FIFO, oversized or invalid file at the key."""
        try:
            folder = _open_folder(self._dir, create=False)
        except OSError:
            return None
        try:
            return _read_heartbeat_file(self._process_key + ".json", self._path, dir_fd=folder,
                                        follow_symlinks=False).heartbeat
        finally:
            os.close(folder)

    def stop(self) -> None:
        """Removes the heartbeat file, for a clean shutdown: the process then shows as
        NO_HEARTBEAT instead of STALE_PID. Raises OSError."""
        with self._lock:
            remove_heartbeat_file(self._dir, self._process_key)

    def __enter__(self) -> "HeartbeatWriter":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]],
                 exc_value: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        if exc_type is None:
            self.stop()

    def __repr__(self) -> str:
        return f"HeartbeatWriter(heartbeat_dir={self._dir!r}, process_key={self._process_key!r})"


def _require_valid_key(key: str) -> None:
    if not is_valid_process_key(key):
        raise ValueError(f'invalid process key "{key}": expected [A-Za-z0-9_.-]{{1,128}} not '
                         'starting with "."')


# The clocks: plain fields so that a test can pin a run's times.
_now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.timezone.utc)
# A run's duration is measured on this clock, which no step of the system clock moves.
_monotonic_ns: Callable[[], int] = time.monotonic_ns

_LONGEST_RUN = datetime.timedelta(seconds=MAX_DURATION_SECONDS)


@dataclasses.dataclass(frozen=True)
class _JobRun:
    """A job's run in progress, as its heartbeats tell it (the C++ writer's detail::JobRun)."""

    started_at: datetime.datetime
    started_ns: int  # on _monotonic_ns
    last_success: Optional[datetime.datetime]

    def fields(self) -> Dict[str, object]:
        """What a heartbeat written during the run holds besides the beat's own fields."""
        return {"started_at": self.started_at, "last_success": self.last_success}

    def final_fields(self, exit_code: int, ended_ns: int) -> Dict[str, object]:
        """The fields of the run's final heartbeat, the run having ended at ended_ns."""
        if type(exit_code) is not int:
            raise TypeError(f"exit code must be an int, not {type(exit_code).__name__}")
        if not 0 <= exit_code <= MAX_EXIT_CODE:
            raise ValueError(f"exit code {exit_code} is outside 0..{MAX_EXIT_CODE}")
        succeeded = exit_code == 0
        duration = datetime.timedelta(microseconds=(ended_ns - self.started_ns) // 1000)
        return {"status": "completed" if succeeded else "failed", "exit_code": exit_code,
                "started_at": self.started_at, "duration_seconds": min(duration, _LONGEST_RUN),
                "last_success": self.started_at if succeeded else self.last_success}


# This process's pid with its (pid_namespace, start_ticks), which stay the same for the life of a
# process: read once, not at every beat. A child of os.fork() drops it, and a pid that differs
# from the caller's (a fork that skipped Python's hooks) is not used.
_identity_cache: Optional[Tuple[int, Tuple[int, int]]] = None


def _own_identity() -> Tuple[Optional[int], Optional[int]]:
    global _identity_cache
    pid = os.getpid()
    cached = _identity_cache
    if cached is not None and cached[0] == pid:
        return cached[1]
    pid_namespace, start_ticks = _process_identity("/proc/self")
    # Kept only when /proc told both: a read that failed (EMFILE, say) is tried at the next beat.
    if pid_namespace is not None and start_ticks is not None:
        _identity_cache = (pid, (pid_namespace, start_ticks))
    return pid_namespace, start_ticks


def _forget_identity() -> None:
    global _identity_cache
    _identity_cache = None


os.register_at_fork(after_in_child=_forget_identity)

_PID_NAMESPACE_LINK = re.compile(r"pid:\[([0-9]{1,20})\]")
_MAX_PID_STAT_BYTES = 4096  # as the C++ reader of /proc/<pid>/stat


def _process_identity(proc_pid_dir: str) -> Tuple[Optional[int], Optional[int]]:
    """The pid namespace inode and start ticks of the process at proc_pid_dir (/proc/self), each
    None when /proc does not tell it, as the C++ writer reads them."""
    pid_namespace = start_ticks = None
    try:
        link = _PID_NAMESPACE_LINK.fullmatch(os.readlink(os.path.join(proc_pid_dir, "ns", "pid")))
        if link is not None and int(link.group(1)) < _UINT64_END:
            pid_namespace = int(link.group(1))
    except OSError:
        pass
    try:
        with open(os.path.join(proc_pid_dir, "stat"), "rb") as stat_file:
            line = stat_file.read(_MAX_PID_STAT_BYTES + 1)
        # Fields counted after comm's last ")": state is field 3, the start time field 22.
        fields = line[line.rindex(b")") + 1:].split()
        if len(line) <= _MAX_PID_STAT_BYTES and len(fields) >= 20 and fields[19].isdigit():
            start_ticks = int(fields[19]) if int(fields[19]) < _UINT64_END else None
    except (OSError, ValueError):
        pass
    return pid_namespace, start_ticks


def _json_value(name: str, value: object) -> str:
    if isinstance(value, datetime.timedelta):
        return _seconds(name, value)
    if isinstance(value, datetime.datetime):
        value = format_timestamp(value)
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise ValueError(f'serializing heartbeat: field "{name}" is not valid UTF-8')
        return '"' + _MUST_ESCAPE.sub(lambda match: _JSON_ESCAPES[match.group()], value) + '"'
    if isinstance(value, int) and not isinstance(value, bool):
        if name == "exit_code" and not 0 <= value <= MAX_EXIT_CODE:
            raise ValueError(f'serializing heartbeat: field "{name}" is outside 0..255')
        if not _INT64_MIN <= value < _UINT64_END:
            raise ValueError(f'serializing heartbeat: field "{name}" does not fit in 64 bits')
        return str(value)
    raise TypeError(f'serializing heartbeat: field "{name}" cannot be a {type(value).__name__}')


def _seconds(name: str, value: datetime.timedelta) -> str:
    """ "S.ffffff", as the C++ writer writes a duration."""
    micros = value // datetime.timedelta(microseconds=1)
    if not 0 <= micros <= int(MAX_DURATION_SECONDS * 1e6):
        raise ValueError(f'serializing heartbeat: field "{name}" is outside 0..1e9')
    return f"{micros // 1000000}.{micros % 1000000:06d}"


def _error(error: OSError, doing: str, path: str) -> OSError:
    """The same kind of OSError (FileNotFoundError, ...) saying what failed, naming path."""
    code = error.errno if error.errno is not None else errno.EIO
    return OSError(code, f"{doing}: {error.strerror or os.strerror(code)}", path)


def _write_atomically(folder: int, name: str, content: bytes, target: str) -> None:
    temp_name, fd = _create_temp_file(folder, name, target)
    step = "write"
    try:
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view):]
        except BaseException:
            _close_quietly(fd)
            raise
        step = "close"
        os.close(fd)
        # No fsync, as in the C++ writer: the rename already gives readers an all-or-nothing
        # view, a liveness signal need not survive power loss, and an fsync per beat would slow
        # down writers that beat often.
        step = "rename"
        os.replace(temp_name, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException as error:
        try:
            os.unlink(temp_name, dir_fd=folder)
        except OSError:
            pass
        if isinstance(error, OSError):
            raise _error(error, f"writing heartbeat file ({step})", target) from error
        raise


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


# The random part of temp names; a plain field so that a test can make names collide.
_temp_token: Callable[[], str] = lambda: secrets.token_hex(8)


def _create_temp_file(folder: int, name: str, target: str) -> Tuple[str, int]:
    """A new file ".<name>.<random>.tmp" in folder, opened for writing.

    The name cannot be predicted, so nobody can plant a file or symlink there in advance, and
    O_EXCL (which never follows a symlink) makes a name that exists anyway be tried again.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    error: Optional[OSError] = None
    for _ in range(_TEMP_ATTEMPTS):
        temp_name = f".{name}.{_temp_token()}.tmp"
        try:
            return temp_name, os.open(temp_name, flags, _FILE_MODE, dir_fd=folder)
        except FileExistsError as exists:
            error = exists
        except OSError as failure:
            error = failure
            break
    assert error is not None
    raise _error(error, "writing heartbeat file (creating temp file)", target) from error


_FOLDER_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
# Times a name is looked at again because someone changed it meanwhile (made the folder first,
# or replaced a symlink while it was read), before giving up with EAGAIN.
_MAX_RETRIES = 100


def _open_folder(heartbeat_dir: PathType, create: bool) -> int:
    """An O_PATH descriptor of the heartbeat folder, created (like mkdir -p) when create is set.

    Raises OSError naming the folder, PermissionError for a refused symlink.
    """
    path = os.fspath(heartbeat_dir)
    try:
        return _resolve_folder(path, create)
    except OSError as error:
        raise _error(error, "opening heartbeat folder", path) from error


def _resolve_folder(path: str, create: bool) -> int:
    """Resolves path one name at a time, each opened with O_NOFOLLOW relative to the one before,
    and follows symlinks by hand, so that each can be judged first (see _is_unsafe_symlink) and
    the folder checked is the folder used."""
    names: List[str] = path.split("/")
    symlinks = retries = 0
    euid = os.geteuid()
    folder = os.open("/" if path.startswith("/") else ".", _FOLDER_FLAGS)
    try:
        while names:
            name = names.pop(0)
            if name in ("", "."):
                continue
            if retries > _MAX_RETRIES:
                raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))
            try:
                info = os.stat(name, dir_fd=folder, follow_symlinks=False)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(name, 0o777, dir_fd=folder)
                except FileExistsError:
                    retries += 1
                    names.insert(0, name)
                    continue
            else:
                if stat.S_ISLNK(info.st_mode):
                    symlinks += 1
                    if symlinks > _MAX_SYMLINKS:
                        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
                    if _is_unsafe_symlink(os.fstat(folder), info, euid):
                        raise PermissionError(
                            errno.EPERM,
                            f"refusing to follow symlink {name!r} owned by uid {info.st_uid} in "
                            "a folder that others can write to")
                    link = os.readlink(name, dir_fd=folder)
                    again = os.stat(name, dir_fd=folder, follow_symlinks=False)
                    if (again.st_ino, again.st_uid, again.st_ctime_ns) != (
                            info.st_ino, info.st_uid, info.st_ctime_ns):
                        retries += 1  # replaced while it was read: judge the new one
                        names.insert(0, name)
                        continue
                    names[:0] = link.split("/")
                    if link.startswith("/"):
                        root = os.open("/", _FOLDER_FLAGS)
                        os.close(folder)
                        folder = root
                    continue
            # O_NOFOLLOW: a name swapped for a symlink since it was looked at fails, unfollowed.
            child = os.open(name, _FOLDER_FLAGS | os.O_NOFOLLOW, dir_fd=folder)
            os.close(folder)
            folder = child
        return folder
    except BaseException:
        os.close(folder)
        raise


def _is_unsafe_symlink(folder: os.stat_result, link: os.stat_result, euid: int) -> bool:
    """Whether following link, found in folder, could hand a heartbeat path to someone else.

    As root: a symlink not owned by root in a folder that users other than root can write to
    (the "unsafe path transition" of systemd-tmpfiles), since its owner could point it at any
    folder and have root write and delete files there. As any other user: what the kernel's
    fs.protected_symlinks refuses (a symlink in a sticky world-writable folder owned by neither
    the follower nor the folder's owner), which following links by hand would otherwise skip.
    """
    if euid == 0:
        writable_by_others = folder.st_uid != 0 or folder.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        return link.st_uid != 0 and bool(writable_by_others)
    sticky_world_writable = folder.st_mode & (stat.S_ISVTX | stat.S_IWOTH) == (
        stat.S_ISVTX | stat.S_IWOTH)
    return sticky_world_writable and link.st_uid not in (euid, folder.st_uid)
