"""heartbeat_exporter.writer: the file it writes, the API of the original product, threads, and
the defences against planted names and symlinks."""

import datetime
import errno
import json
import os
import pathlib
import re
import signal
import stat
import threading
import time

import pytest

from conftest import file_names
from heartbeat_exporter import writer as writer_module
from heartbeat_exporter.reader import HeartbeatData, read_heartbeat, read_heartbeat_result
from heartbeat_exporter.writer import HeartbeatWriter, remove_heartbeat_file, write_heartbeat_file

NOBODY = 65534
# What the C++ writer writes, with the timestamp's form pinned down.
FILE_FORMAT = re.compile(
    rb'\{"process_key":"worker","pid":(\d+),'
    rb'"timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00","status":"running",'
    rb'"iteration":1,"pid_namespace":(\d+),"start_ticks":(\d+)\}')

needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: the rule under test is root's")


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def own_start_ticks():
    with open("/proc/self/stat", "rb") as stat_file:
        return int(stat_file.read().rsplit(b")", 1)[1].split()[19])


def test_beat_writes_the_compact_format_of_the_cpp_writer(tmp_path):
    writer = HeartbeatWriter(heartbeat_dir=tmp_path, process_key="worker")
    writer.beat()
    match = FILE_FORMAT.fullmatch((tmp_path / "worker.json").read_bytes())
    assert match is not None
    assert int(match.group(1)) == os.getpid()
    assert int(match.group(2)) == os.stat("/proc/self/ns/pid").st_ino
    assert int(match.group(3)) == own_start_ticks()


def test_identity_fields_are_left_out_when_proc_does_not_tell_them(tmp_path, monkeypatch):
    fake = tmp_path / "proc_self"
    fake.mkdir()
    assert writer_module._process_identity(str(fake)) == (None, None)
    (fake / "ns").mkdir()
    (fake / "ns" / "pid").symlink_to("net:[4026531840]")
    (fake / "stat").write_bytes(b"7 (a) b) S" + b" 1" * 18 + b" x 0\n")
    assert writer_module._process_identity(str(fake)) == (None, None)
    (fake / "ns" / "pid").unlink()
    (fake / "ns" / "pid").symlink_to("pid:[4026532841]")
    (fake / "stat").write_bytes(b"7 (a) b) S" + b" 1" * 18 + b" 123 0\n")
    assert writer_module._process_identity(str(fake)) == (4026532841, 123)
    monkeypatch.setattr(writer_module, "_process_identity", lambda _: (None, None))
    monkeypatch.setattr(writer_module, "_identity_cache", None)
    HeartbeatWriter(tmp_path, "worker").beat()
    data = read_heartbeat(tmp_path / "worker.json")
    assert data.pid_namespace is None and data.start_ticks is None
    assert b"pid_namespace" not in (tmp_path / "worker.json").read_bytes()


def test_proc_self_is_read_once_per_process_not_at_every_beat(tmp_path, monkeypatch):
    reads = []

    def counting(proc_pid_dir):
        reads.append(proc_pid_dir)
        return (4026532841, 123)

    monkeypatch.setattr(writer_module, "_process_identity", counting)
    monkeypatch.setattr(writer_module, "_identity_cache", None)
    first, second = HeartbeatWriter(tmp_path, "first"), HeartbeatWriter(tmp_path, "second")
    for _ in range(3):
        first.beat()
        second.beat()
    assert reads == ["/proc/self"]
    assert read_heartbeat(second.path).start_ticks == 123


def test_an_incomplete_identity_is_read_again_at_the_next_beat(tmp_path, monkeypatch):
    answers = [(None, None), (4026532841, None), (4026532841, 123), (1, 1)]
    monkeypatch.setattr(writer_module, "_process_identity", lambda _: answers.pop(0))
    monkeypatch.setattr(writer_module, "_identity_cache", None)
    writer = HeartbeatWriter(tmp_path, "worker")
    written = []
    for _ in range(5):
        writer.beat()
        data = read_heartbeat(writer.path)
        written.append((data.pid_namespace, data.start_ticks))
    assert written == [(None, None), (4026532841, None)] + [(4026532841, 123)] * 3
    assert answers == [(1, 1)]


def test_an_identity_cached_for_another_pid_is_not_used(tmp_path, monkeypatch):
    # What a fork that skips Python's at-fork hooks (a raw fork() from C) leaves behind.
    monkeypatch.setattr(writer_module, "_identity_cache", (os.getpid() + 1, (1, 1)))
    writer = HeartbeatWriter(tmp_path, "worker")
    writer.beat()
    assert FILE_FORMAT.fullmatch(pathlib.Path(writer.path).read_bytes()).groups()[1:] == (
        str(os.stat("/proc/self/ns/pid").st_ino).encode(), str(own_start_ticks()).encode())


def test_a_forked_child_writes_its_own_pid_and_start_ticks_not_its_parents(tmp_path):
    writer = HeartbeatWriter(tmp_path, "worker")
    writer.beat()  # the parent's identity is now cached
    parent = read_heartbeat(writer.path)
    time.sleep(0.05)  # 5 clock ticks: the child cannot share the parent's start_ticks
    child = os.fork()
    if child == 0:
        status = 2  # an exception must end the child here, not run the rest of pytest in it
        try:
            dropped = writer_module._identity_cache is None
            writer.beat()
            right = read_heartbeat(writer.path).start_ticks == own_start_ticks()
            status = 0 if dropped and right else 1
        finally:
            os._exit(status)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    data = read_heartbeat(writer.path)
    assert data.pid == child
    assert data.start_ticks != parent.start_ticks
    assert data.pid_namespace == parent.pid_namespace
    writer.beat()  # and the parent's cache still holds the parent's
    assert read_heartbeat(writer.path).start_ticks == parent.start_ticks == own_start_ticks()


def test_read_heartbeat_sees_exactly_what_beat_wrote(tmp_path):
    writer = HeartbeatWriter(heartbeat_dir=str(tmp_path), process_key="my_server")
    before = now()
    writer.beat()
    after = now()
    assert writer.path == str(tmp_path / "my_server.json")
    assert writer.process_key == "my_server"
    data = read_heartbeat(writer.path)
    assert data.process_key == "my_server"
    assert data.pid == os.getpid()
    assert before <= data.timestamp <= after
    assert data.status == "running"
    assert data.iteration == 1


def test_iteration_counts_one_two_three_and_beat_writes_the_status(tmp_path):
    writer = HeartbeatWriter(tmp_path, "worker")
    assert writer.iteration == 0
    for expected in (1, 2, 3):
        writer.beat()
        assert read_heartbeat(writer.path).iteration == expected
    writer.beat("error")
    data = read_heartbeat(writer.path)
    assert (data.status, data.iteration, writer.iteration) == ("error", 4, 4)


def test_an_explicit_iteration_is_written_and_counting_continues_from_it(tmp_path):
    writer = HeartbeatWriter(tmp_path, "worker")
    writer.beat(iteration=100)
    assert read_heartbeat(writer.path).iteration == 100
    writer.beat()
    assert read_heartbeat(writer.path).iteration == 101
    writer.beat(iteration=2**64 - 1)
    assert read_heartbeat(writer.path).iteration == 2**64 - 1


@pytest.mark.parametrize("kwargs, error", [
    ({"iteration": -1}, ValueError), ({"iteration": 2**64}, ValueError),
    ({"iteration": 1.0}, ValueError), ({"iteration": True}, ValueError),
    ({"status": b"running"}, TypeError), ({"status": None}, TypeError),
    ({"status": "bad \udc80 surrogate"}, ValueError),
])
def test_a_bad_status_or_iteration_raises_before_touching_the_folder(tmp_path, kwargs, error):
    writer = HeartbeatWriter(tmp_path / "heartbeats", "worker")
    with pytest.raises(error):
        writer.beat(**kwargs)
    assert file_names(tmp_path) == []
    assert writer.iteration == 0


@pytest.mark.parametrize("umask_value, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_the_file_mode_is_0644_less_the_umask_as_in_cpp(tmp_path, umask, umask_value, mode):
    umask(umask_value)
    writer = HeartbeatWriter(tmp_path, "worker")
    writer.beat()
    assert stat.S_IMODE(os.stat(writer.path).st_mode) == mode


def test_the_folder_is_created_when_missing(tmp_path):
    writer = HeartbeatWriter(tmp_path / "a" / "b" / "c", "worker")
    writer.beat()
    assert read_heartbeat(writer.path).iteration == 1


def test_a_relative_folder_with_dots_resolves_like_the_kernel(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "real").mkdir()
    os.symlink("../real", tmp_path / "real" / "loop_up")
    writer = HeartbeatWriter("./real/loop_up/../real/./sub", "worker")
    writer.beat()
    assert read_heartbeat(tmp_path / "real" / "sub" / "worker.json").iteration == 1


def test_beats_replace_the_previous_heartbeat_and_leave_no_temp_file(tmp_path):
    writer = HeartbeatWriter(tmp_path, "worker")
    for _ in range(50):
        writer.beat()
    assert file_names(tmp_path) == ["worker.json"]
    assert read_heartbeat(writer.path).iteration == 50


def test_a_folder_that_is_a_regular_file_raises_oserror_naming_it(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    folder = tmp_path / "file" / "heartbeats"
    writer = HeartbeatWriter(folder, "worker")
    with pytest.raises(NotADirectoryError) as raised:
        writer.beat()
    assert raised.value.filename == str(folder)
    assert str(folder) in str(raised.value)
    assert writer.iteration == 0


def test_a_target_that_is_a_folder_fails_the_rename_and_leaves_no_temp_file(tmp_path):
    (tmp_path / "worker.json").mkdir()
    writer = HeartbeatWriter(tmp_path, "worker")
    with pytest.raises(IsADirectoryError) as raised:
        writer.beat()
    assert raised.value.filename == writer.path
    assert "(rename)" in str(raised.value)
    assert file_names(tmp_path) == ["worker.json"]


def test_stop_removes_the_heartbeat_and_may_be_called_again(tmp_path):
    writer = HeartbeatWriter(tmp_path, "worker")
    writer.beat()
    writer.stop()
    assert file_names(tmp_path) == []
    writer.stop()
    HeartbeatWriter(tmp_path / "never_created", "worker").stop()


def test_stop_raises_oserror_for_other_failures(tmp_path):
    (tmp_path / "worker.json").mkdir()
    (tmp_path / "worker.json" / "keep").write_text("")
    with pytest.raises(OSError) as raised:
        remove_heartbeat_file(tmp_path, "worker")
    assert raised.value.filename == str(tmp_path / "worker.json")


def test_a_clean_with_block_stops_the_writer(tmp_path):
    with HeartbeatWriter(tmp_path, "worker") as writer:
        writer.beat()
        assert file_names(tmp_path) == ["worker.json"]
    assert file_names(tmp_path) == []


def test_an_exception_in_the_with_block_leaves_the_last_heartbeat(tmp_path):
    with pytest.raises(RuntimeError):
        with HeartbeatWriter(tmp_path, "worker") as writer:
            writer.beat()
            writer.beat()
            raise RuntimeError("worker crashed")
    assert read_heartbeat(tmp_path / "worker.json").iteration == 2


def test_beats_from_eight_threads_on_one_writer_count_every_iteration_once(tmp_path):
    writer = HeartbeatWriter(tmp_path, "worker")
    seen = []
    stop_reading = threading.Event()

    def read_while_beating():
        while not stop_reading.is_set():
            seen.append(read_heartbeat_result(writer.path))
            time.sleep(0.0005)  # leaves the GIL to the writers

    def beat_100_times():
        for _ in range(100):
            writer.beat()

    reader = threading.Thread(target=read_while_beating)
    writer.beat()
    reader.start()
    threads = [threading.Thread(target=beat_100_times) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop_reading.set()
    reader.join()
    assert writer.iteration == 1 + 8 * 100
    assert read_heartbeat(writer.path).iteration == 1 + 8 * 100
    assert [result.failure for result in seen if not result.ok] == []
    iterations = [result.heartbeat.iteration for result in seen]
    assert iterations == sorted(iterations)  # a later read never sees an earlier beat
    assert file_names(tmp_path) == ["worker.json"]


# --- defences: what someone who can write to the heartbeat folder can plant there


def test_symlinks_planted_at_predictable_temp_names_neither_block_nor_redirect_a_beat(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("secret")
    folder = tmp_path / "heartbeats"
    folder.mkdir()
    # The names the C++ writer uses today: <pid> and a counter.
    for counter in range(200):
        os.symlink(victim, folder / f".worker.json.{os.getpid()}.{counter}.tmp")
    writer = HeartbeatWriter(folder, "worker")
    writer.beat()
    assert read_heartbeat(writer.path).iteration == 1
    assert victim.read_text() == "secret"
    assert len(os.listdir(folder)) == 201


def test_a_temp_name_that_exists_is_never_followed_and_another_is_tried(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text("secret")
    tokens = iter(["planted", "planted", "fresh"])
    monkeypatch.setattr(writer_module, "_temp_token", lambda: next(tokens))
    os.symlink(victim, tmp_path / ".worker.json.planted.tmp")
    writer = HeartbeatWriter(tmp_path, "worker")
    writer.beat()
    assert victim.read_text() == "secret"
    assert file_names(tmp_path) == [".worker.json.planted.tmp", "victim", "worker.json"]


def test_temp_names_are_unpredictable(tmp_path, monkeypatch):
    names = []
    real_token = writer_module._temp_token

    def recording_token():
        names.append(real_token())
        return names[-1]

    monkeypatch.setattr(writer_module, "_temp_token", recording_token)
    writer = HeartbeatWriter(tmp_path, "worker")
    for _ in range(20):
        writer.beat()
    assert len(set(names)) == 20
    assert all(re.fullmatch(r"[0-9a-f]{16}", name) for name in names)


def test_a_symlink_at_the_heartbeat_is_replaced_and_removed_never_followed(tmp_path):
    victim = tmp_path / "victim.json"
    victim.write_text("secret")
    folder = tmp_path / "heartbeats"
    folder.mkdir()
    os.symlink(victim, folder / "worker.json")
    writer = HeartbeatWriter(folder, "worker")
    writer.beat()
    assert not os.path.islink(writer.path)
    assert victim.read_text() == "secret"
    os.symlink(victim, folder / "other.json")
    HeartbeatWriter(folder, "other").stop()
    assert file_names(folder) == ["worker.json"]
    assert victim.read_text() == "secret"


def test_a_symlink_loop_in_the_folder_path_raises_oserror_naming_the_folder(tmp_path):
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    writer = HeartbeatWriter(tmp_path / "a", "worker")
    with pytest.raises(OSError) as raised:
        writer.beat()
    assert raised.value.errno == errno.ELOOP
    assert raised.value.filename == str(tmp_path / "a")


def stat_result(uid, mode):
    return os.stat_result((mode, 1, 1, 1, uid, uid, 0, 0, 0, 0))


DIR = stat.S_IFDIR
LINK = stat.S_IFLNK | 0o777


@pytest.mark.parametrize("folder_uid, folder_mode, link_uid, euid, unsafe", [
    # As root: a link not owned by root, in a folder others can write to, is refused.
    (0, DIR | 0o755, 0, 0, False),
    (0, DIR | 0o755, NOBODY, 0, False),  # only root could have put it there
    (0, DIR | 0o1777, NOBODY, 0, True),  # /tmp
    (0, DIR | 0o775, NOBODY, 0, True),  # group-writable
    (NOBODY, DIR | 0o755, NOBODY, 0, True),  # the folder's owner can replace it
    (NOBODY, DIR | 0o755, 0, 0, False),
    # Other users: what fs.protected_symlinks refuses, which following by hand would skip.
    (0, DIR | 0o1777, 1000, 1000, False),
    (0, DIR | 0o1777, 1001, 1000, True),
    (1001, DIR | 0o1777, 1001, 1000, False),
    (0, DIR | 0o0777, 1001, 1000, False),  # not sticky: the kernel follows it too
    (1001, DIR | 0o755, 1001, 1000, False),
])
def test_which_symlinks_are_unsafe_to_follow(folder_uid, folder_mode, link_uid, euid, unsafe):
    folder, link = stat_result(folder_uid, folder_mode), stat_result(link_uid, LINK)
    assert writer_module._is_unsafe_symlink(folder, link, euid) is unsafe


@needs_root
def test_as_root_a_folder_reached_through_another_users_symlink_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    target = tmp_path / "root_only"
    target.mkdir(mode=0o700)
    link = shared / "heartbeats"
    os.symlink(target, link)
    os.lchown(link, NOBODY, NOBODY)
    writer = HeartbeatWriter(link / "sub", "worker")
    with pytest.raises(PermissionError) as raised:
        writer.beat()
    assert raised.value.filename == str(link / "sub")
    assert "refusing to follow symlink 'heartbeats' owned by uid 65534" in str(raised.value)
    with pytest.raises(PermissionError):
        writer.stop()
    assert file_names(target) == []


@needs_root
def test_as_root_a_symlink_that_only_root_could_plant_is_followed(tmp_path):
    target = tmp_path / "real"
    target.mkdir()
    os.symlink(target, tmp_path / "link")
    os.chmod(tmp_path, 0o755)
    writer = HeartbeatWriter(tmp_path / "link", "worker")
    writer.beat()
    assert file_names(target) == ["worker.json"]


# --- a job's runs: start_run() and finish_run(exit_code), as the C++ writer's

# What the C++ writer writes for a run's final heartbeat, in its field order.
FINAL_FORMAT = re.compile(
    rb'\{"process_key":"job","pid":\d+,"timestamp":"[^"]{32}","status":"(completed|failed)",'
    rb'"iteration":\d+,"pid_namespace":\d+,"start_ticks":\d+,"exit_code":(\d+),'
    rb'"started_at":"[^"]{32}","duration_seconds":\d+\.\d{6}(?:,"last_success":"[^"]{32}")?\}')
RUNNING_FORMAT = re.compile(
    rb'\{"process_key":"job","pid":\d+,"timestamp":"[^"]{32}","status":"running",'
    rb'"iteration":\d+,"pid_namespace":\d+,"start_ticks":\d+,'
    rb'"started_at":"[^"]{32}"(?:,"last_success":"[^"]{32}")?\}')
LAST_SUCCESS = datetime.datetime(2026, 2, 4, 2, 0, tzinfo=datetime.timezone.utc)


def run_heartbeat(writer):
    """The heartbeat file as read, checked against the C++ writer's form."""
    content = pathlib.Path(writer.path).read_bytes()
    assert RUNNING_FORMAT.fullmatch(content) or FINAL_FORMAT.fullmatch(content), content
    return read_heartbeat(writer.path)


def write_previous(folder, **fields):
    """A heartbeat left at job.json by an earlier run (of heartbeatctl, say)."""
    write_heartbeat_file(folder, "job", HeartbeatData(
        process_key="job", pid=1, timestamp=now(), status="completed", **fields))


def test_start_run_writes_running_with_its_start_and_no_last_success_on_a_first_run(tmp_path):
    writer = HeartbeatWriter(tmp_path / "new", "job")
    before = now()
    writer.start_run()
    data = run_heartbeat(writer)
    assert data.status == "running" and data.pid == os.getpid() and data.iteration == 1
    assert before <= data.started_at == data.timestamp <= now()
    assert data.last_success is None and data.exit_code is None
    assert data.duration_seconds is None


def test_finish_run_0_writes_completed_with_this_run_as_last_success(tmp_path):
    writer = HeartbeatWriter(tmp_path, "job")
    write_previous(tmp_path, last_success=LAST_SUCCESS)
    writer.start_run()
    started = run_heartbeat(writer)
    assert started.last_success == LAST_SUCCESS  # carried forward
    time.sleep(0.01)
    writer.finish_run(0)
    data = run_heartbeat(writer)
    assert (data.status, data.exit_code, data.iteration) == ("completed", 0, 2)
    assert data.started_at == data.last_success == started.started_at
    assert datetime.timedelta(seconds=0.01) <= data.duration_seconds
    assert data.duration_seconds <= data.timestamp - data.started_at
    assert data.pid_namespace is not None and data.start_ticks is not None


@pytest.mark.parametrize("exit_code", [1, 3, 127, 143, 255])
def test_finish_run_with_another_code_writes_failed_and_keeps_the_last_success(
        tmp_path, exit_code):
    writer = HeartbeatWriter(tmp_path, "job")
    writer.start_run()
    writer.finish_run(0)
    succeeded = read_heartbeat(writer.path).started_at
    writer.start_run()
    assert run_heartbeat(writer).last_success == succeeded
    writer.finish_run(exit_code)
    data = run_heartbeat(writer)
    assert (data.status, data.exit_code, data.iteration) == ("failed", exit_code, 4)
    assert data.last_success == succeeded < data.started_at
    writer.start_run()  # a failed run carries the last success on too
    assert run_heartbeat(writer).last_success == succeeded


def test_a_failed_first_run_has_no_last_success(tmp_path):
    writer = HeartbeatWriter(tmp_path, "job")
    writer.start_run()
    writer.finish_run(3)
    assert run_heartbeat(writer).last_success is None
    assert b"last_success" not in pathlib.Path(writer.path).read_bytes()


@pytest.mark.parametrize("exit_code,error", [
    (-1, ValueError), (256, ValueError), (2**64, ValueError),
    (True, TypeError), (0.0, TypeError), ("0", TypeError), (None, TypeError)])
def test_an_exit_code_outside_0_to_255_raises_and_the_run_goes_on(tmp_path, exit_code, error):
    writer = HeartbeatWriter(tmp_path, "job")
    writer.start_run()
    before = pathlib.Path(writer.path).read_bytes()
    with pytest.raises(error, match="exit code"):
        writer.finish_run(exit_code)
    assert pathlib.Path(writer.path).read_bytes() == before
    assert writer.iteration == 1
    writer.finish_run(0)
    assert run_heartbeat(writer).status == "completed"


def test_finish_run_without_a_run_in_progress_raises_runtime_error(tmp_path):
    writer = HeartbeatWriter(tmp_path, "job")
    with pytest.raises(RuntimeError, match="without a run in progress"):
        writer.finish_run(0)
    writer.start_run()
    writer.finish_run(0)
    with pytest.raises(RuntimeError, match="without a run in progress"):
        writer.finish_run(0)
    assert file_names(tmp_path) == ["job.json"] and writer.iteration == 2


def test_beats_during_a_run_keep_its_fields_and_beats_after_it_do_not(tmp_path):
    writer = HeartbeatWriter(tmp_path, "job")
    write_previous(tmp_path, last_success=LAST_SUCCESS)
    writer.start_run()
    started = run_heartbeat(writer).started_at
    for iteration in (2, 3):
        writer.beat()
        data = run_heartbeat(writer)
        assert (data.status, data.iteration) == ("running", iteration)
        assert (data.started_at, data.last_success) == (started, LAST_SUCCESS)
        assert data.timestamp >= started and data.exit_code is None
    writer.beat("error")  # any status, as in C++
    assert read_heartbeat(writer.path).started_at == started
    writer.finish_run(0)
    writer.beat()
    data = read_heartbeat(writer.path)
    assert (data.started_at, data.last_success, data.exit_code) == (None, None, None)
    assert b"started_at" not in pathlib.Path(writer.path).read_bytes()


def test_a_running_heartbeat_left_by_a_killed_run_carries_its_last_success(tmp_path):
    killed = HeartbeatWriter(tmp_path, "job")
    write_previous(tmp_path, last_success=LAST_SUCCESS)
    killed.start_run()  # and never finished
    fresh = HeartbeatWriter(tmp_path, "job")
    fresh.start_run()
    assert run_heartbeat(fresh).last_success == LAST_SUCCESS


def test_a_run_whose_first_write_fails_is_not_started(tmp_path):
    (tmp_path / "job.json").mkdir()  # the rename over it fails
    writer = HeartbeatWriter(tmp_path, "job")
    with pytest.raises(OSError):
        writer.start_run()
    assert writer.iteration == 0
    with pytest.raises(RuntimeError):
        writer.finish_run(0)
    assert file_names(tmp_path) == ["job.json"]


def test_a_final_write_that_fails_leaves_the_run_in_progress(tmp_path):
    writer = HeartbeatWriter(tmp_path, "job")
    writer.start_run()
    started = read_heartbeat(writer.path).started_at
    os.unlink(writer.path)
    os.mkdir(writer.path)
    with pytest.raises(OSError):
        writer.finish_run(0)
    os.rmdir(writer.path)
    writer.finish_run(0)
    data = run_heartbeat(writer)
    assert (data.status, data.started_at, data.iteration) == ("completed", started, 2)


def test_a_duration_longer_than_1e9_seconds_is_written_as_1e9(tmp_path, monkeypatch):
    clock = [0]
    monkeypatch.setattr(writer_module, "_monotonic_ns", lambda: clock[0])
    writer = HeartbeatWriter(tmp_path, "job")
    writer.start_run()
    clock[0] = 2 * 10**18  # 63 years on
    writer.finish_run(0)
    assert b'"duration_seconds":1000000000.000000,' in pathlib.Path(writer.path).read_bytes()
    clock[0] = 0
    writer.start_run()
    clock[0] = 1999  # 1.999 microseconds: cut, as the C++ writer floors
    writer.finish_run(0)
    assert b'"duration_seconds":0.000001,' in pathlib.Path(writer.path).read_bytes()


# A valid heartbeat with a last_success that a hostile file must not pass on.
_CARRIED = ('{"pid":1,"timestamp":"2026-02-05T02:00:00+00:00","status":"completed",'
            '"last_success":"2026-02-04T02:00:00+00:00"}')


def _plant(folder, kind):
    path = folder / "job.json"
    elsewhere = folder / "elsewhere"
    elsewhere.mkdir()
    if kind == "symlink to a valid heartbeat":
        (elsewhere / "valid.json").write_text(_CARRIED)
        path.symlink_to(elsewhere / "valid.json")
    elif kind == "symlink to a FIFO":
        os.mkfifo(elsewhere / "fifo")
        path.symlink_to(elsewhere / "fifo")
    elif kind == "FIFO":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "10 MB, a valid heartbeat padded":
        path.write_text(_CARRIED + " " * 10_000_000)
    elif kind == "10 MB of nesting":
        path.write_text("[" * 5_000_000 + "]" * 5_000_000)
    elif kind == "60,000 deep, under 64 KiB":
        path.write_text("[" * 30_000 + "]" * 30_000)
    elif kind == "deep nesting in the last_success field":
        path.write_text(_CARRIED.replace('"2026-02-04T02:00:00+00:00"', "[" * 30_000 + "]" * 30_000))
    elif kind.startswith("wrong field: "):
        field, value = kind[len("wrong field: "):].split("=", 1)
        document = json.loads(_CARRIED)
        document[field] = json.loads(value)
        path.write_text(json.dumps(document))
    else:
        raise AssertionError(kind)


HOSTILE_PREVIOUS = [
    "symlink to a valid heartbeat", "symlink to a FIFO", "FIFO", "folder",
    "10 MB, a valid heartbeat padded", "10 MB of nesting", "60,000 deep, under 64 KiB",
    "deep nesting in the last_success field",
    "wrong field: last_success=1770170400", "wrong field: last_success=\"yesterday\"",
    "wrong field: last_success=[\"2026-02-04T02:00:00+00:00\"]", "wrong field: pid=\"1\"",
    "wrong field: status=null", "wrong field: exit_code=256", "wrong field: duration_seconds=-1",
]


@pytest.mark.parametrize("kind", HOSTILE_PREVIOUS)
def test_a_hostile_previous_heartbeat_passes_nothing_on_and_neither_hangs_nor_raises(
        tmp_path, kind):
    _plant(tmp_path, kind)
    writer = HeartbeatWriter(tmp_path, "job")
    # A FIFO opened for reading without O_NONBLOCK would block here for good: the alarm turns
    # that into a failure.
    previous_handler = signal.signal(signal.SIGALRM, _timed_out)
    signal.alarm(10)
    try:
        started = time.monotonic()
        if kind == "folder":
            with pytest.raises(OSError):  # carries nothing, and the rename fails
                writer.start_run()
            return
        writer.start_run()
        elapsed = time.monotonic() - started
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous_handler)
    data = run_heartbeat(writer)
    assert data.status == "running" and data.last_success is None
    assert elapsed < 2, f"start_run took {elapsed:.2f} s"
    assert not (tmp_path / "job.json").is_symlink()  # replaced, never written through
    if kind == "symlink to a valid heartbeat":
        assert (tmp_path / "elsewhere" / "valid.json").read_text() == _CARRIED


def _timed_out(signum, frame):
    raise AssertionError("start_run blocked on the previous heartbeat")


def test_the_same_previous_heartbeat_as_a_regular_file_is_carried(tmp_path):
    # The control for the hostile cases: what they hold is carried when it is a plain file.
    (tmp_path / "job.json").write_text(_CARRIED)
    writer = HeartbeatWriter(tmp_path, "job")
    writer.start_run()
    assert run_heartbeat(writer).last_success == LAST_SUCCESS


def test_an_unreadable_heartbeat_folder_carries_nothing_and_the_write_reports_it(tmp_path):
    folder = tmp_path / "not_a_folder"
    folder.write_text(_CARRIED)
    writer = HeartbeatWriter(folder, "job")
    with pytest.raises(OSError) as raised:
        writer.start_run()
    assert raised.value.filename == str(folder)
