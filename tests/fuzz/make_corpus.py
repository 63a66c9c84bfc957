#!/usr/bin/env python3
"""Writes the seed corpus in tests/fuzz/corpus/ (run it again after changing it; it is checked in).

Heartbeats are written the way the Python implementation wrote them (json.dumps of
datetime.isoformat()), with timestamps around the fuzzers' fixed clock, 2026-02-05T06:18:00Z, and
pids that pick each answer of the fake process table (invariants.h: pid % 5).
"""

import json
import pathlib
import shutil
from datetime import datetime, timedelta, timezone

CORPUS = pathlib.Path(__file__).resolve().parent / "corpus"
NOW = datetime(2026, 2, 5, 6, 18, 0, tzinfo=timezone.utc)
BEAT = NOW - timedelta(seconds=30, microseconds=398951)  # 06:17:29.601049
STARTED = BEAT - timedelta(seconds=17.25)  # a run's start

# pid % 5 in the fake process table: 0 gone, 1 alive (started 05:18), 2 alive (/proc hidden),
# 3 zombie, 4 alive but started at 06:18 (so the pid was reused after the heartbeat).
PID_GONE, PID_ALIVE, PID_HIDDEN, PID_ZOMBIE, PID_REUSED = 12345, 12346, 12347, 12348, 12349


def heartbeat(**overrides):
    fields = {"process_key": "my_server", "pid": PID_ALIVE, "timestamp": BEAT.isoformat(),
              "status": "running", "iteration": 42}
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def write(target, name, content):
    path = CORPUS / target / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())


def heartbeats():
    valid = {
        "healthy_isoformat.json": heartbeat(),
        "healthy_str_datetime.json": heartbeat(timestamp=str(BEAT)),
        "healthy_naive_utc.json": heartbeat(timestamp=BEAT.replace(tzinfo=None).isoformat()),
        "healthy_offset.json": heartbeat(
            timestamp=BEAT.astimezone(timezone(timedelta(hours=-5, minutes=-30))).isoformat()),
        "healthy_no_fraction.json": heartbeat(timestamp=BEAT.replace(microsecond=0).isoformat()),
        "healthy_minimal.json": heartbeat(process_key=None, iteration=None),
        "healthy_extra_fields.json": heartbeat(host="web-1", version={"major": 2}, tags=["a"]),
        "healthy_proc_hidden.json": heartbeat(pid=PID_HIDDEN),
        "healthy_unicode_key.json": heartbeat(process_key="caf\u00e9 \U0001f600"),
        "stale_process_gone.json": heartbeat(pid=PID_GONE),
        "stale_zombie.json": heartbeat(pid=PID_ZOMBIE),
        "stale_pid_reused.json": heartbeat(pid=PID_REUSED),
        "timed_out.json": heartbeat(timestamp=(NOW - timedelta(minutes=5)).isoformat()),
        "error_status.json": heartbeat(status="failed: disk full"),
        "timestamp_in_future.json": heartbeat(timestamp=(NOW + timedelta(hours=2)).isoformat()),
        "max_pid_and_iteration.json": heartbeat(pid=4194304, iteration=2**64 - 1),
        # A run's final heartbeats (heartbeatctl run): not pid-checked, so a gone pid is fine.
        "run_completed.json": heartbeat(pid=PID_GONE, status="completed", iteration=None,
                                        exit_code=0, started_at=STARTED.isoformat(),
                                        duration_seconds=17.25, last_success=STARTED.isoformat()),
        "run_failed.json": heartbeat(pid=PID_GONE, status="failed", iteration=None, exit_code=3,
                                     started_at=STARTED.isoformat(), duration_seconds=17.25,
                                     last_success=(STARTED - timedelta(days=1)).isoformat()),
        "run_in_progress.json": heartbeat(iteration=None, started_at=STARTED.isoformat()),
        # The fuzz table's own namespace is the initial one (4026531836); another one's pid is
        # gone, alive or a zombie by its inode % 3.
        "own_namespace_same_ticks.json": heartbeat(pid_namespace=4026531836, start_ticks=1000),
        "stale_own_namespace_other_ticks.json": heartbeat(pid_namespace=4026531836,
                                                          start_ticks=999),
        "healthy_other_namespace.json": heartbeat(pid=1, pid_namespace=4026532840,
                                                  start_ticks=7),
        "stale_other_namespace_gone.json": heartbeat(pid=1, pid_namespace=4026532839,
                                                     start_ticks=7),
        "other_namespace_no_ticks.json": heartbeat(pid=1, pid_namespace=4026532839),
    }
    for name, fields in valid.items():
        write("heartbeat", name, json.dumps(fields))
    # What the C++ writer (serialize_heartbeat) writes: compact, UTC with +00:00.
    write("heartbeat", "healthy_cpp_writer.json",
          '{"process_key":"my_server","pid":12346,"timestamp":"2026-02-05T06:17:29.601049+00:00",'
          '"status":"running","iteration":42}')

    text = json.dumps(heartbeat())
    invalid = {
        "invalid_json_truncated.json": text[:40],
        "invalid_json_trailing.json": text + " {}",
        "invalid_json_nul_byte.json": text[:20] + "\0" + text[20:],
        "invalid_json_bad_utf8.json": text.replace("running", "runn\xffing").encode("latin-1"),
        "invalid_json_empty.json": "",
        "not_object_array.json": json.dumps([heartbeat()]),
        "not_object_string.json": '"running"',
        "missing_pid.json": json.dumps(heartbeat(pid=None)),
        "missing_timestamp.json": json.dumps(heartbeat(timestamp=None)),
        "missing_status.json": json.dumps(heartbeat(status=None)),
        "invalid_pid_string.json": json.dumps(heartbeat(pid="12346")),
        "invalid_pid_zero.json": json.dumps(heartbeat(pid=0)),
        "invalid_pid_too_large.json": json.dumps(heartbeat(pid=4194305)),
        "invalid_pid_beyond_int64.json": json.dumps(heartbeat(pid=2**64)),
        "invalid_pid_float.json": json.dumps(heartbeat(pid=12346.0)),
        "invalid_duplicate_pid.json": text[:-1] + ', "pid": 1}',
        "invalid_timestamp_number.json": json.dumps(heartbeat(timestamp=1770272249.6)),
        "invalid_status_null.json": text.replace('"running"', "null"),
        "invalid_process_key_number.json": json.dumps(heartbeat(process_key=7)),
        "invalid_iteration_negative.json": json.dumps(heartbeat(iteration=-1)),
        "invalid_iteration_float.json": json.dumps(heartbeat(iteration=1.5)),
        "invalid_timestamp_no_date.json": json.dumps(heartbeat(timestamp="2026-02-30T06:17:29")),
        "invalid_timestamp_text.json": json.dumps(heartbeat(timestamp="yesterday")),
        "escaped_strings.json": json.dumps(heartbeat(status="run\u0000ning\n\"\\",
                                                     process_key="\ud83d\ude00")),
        "deep_nesting.json": text[:-1] + ', "x": ' + "[" * 2000 + "]" * 2000 + "}",
        # Kept cut to 256 bytes, on a character boundary.
        "long_strings.json": json.dumps(heartbeat(status="x" * 252 + "\u00e9" * 100,
                                                  process_key="k" * 300), ensure_ascii=False),
    }
    for name, content in invalid.items():
        write("heartbeat", name, content)


def timestamps():
    accepted = [
        "2026-02-05T06:17:29.601049+00:00", "2026-02-05 06:17:29.601049", "2026-02-05T06:17:29",
        "2026-02-05T06:17:29.6Z", "2026-02-05T06:17:29.123456789-05:30", "2026-02-05T06:17:29+0530",
        "2024-02-29T12:00:00", "1969-12-31T23:59:59.5", "0001-01-01T00:00:00",
        "9999-12-31T23:59:59.999999", "2026-02-05T00:00:00-00:00", "2026-12-31T23:59:59+23:59",
    ]
    rejected = [
        "2026-02-30T06:17:29", "2023-02-29T00:00:00", "2026-02-05T24:00:00", "2026-02-05T06:60:00",
        "2026-02-05T06:17:60", "2026-02-05T06:17:29.", "2026-02-05T06:17:29.1234567890",
        "2026-02-05T06:17:29+24:00", "2026-02-05T06:17:29+05:60", "2026-02-05T06:17:29+05",
        "2026-02-05T06:17:29+05:3", "2026-02-05t06:17:29", "2026-02-05T06:17:29z",
        " 2026-02-05T06:17:29", "2026-02-05T06:17:29 ", "2026-2-5T06:17:29", "0000-01-01T00:00:00",
        "+2026-02-05T06:17:29", "2026-02-05T06:17:29+05:30:00", "2026-02-05", "",
    ]
    for i, text in enumerate(accepted):
        write("timestamp", f"accepted_{i:02}", text)
    for i, text in enumerate(rejected):
        write("timestamp", f"rejected_{i:02}", text)


def configs():
    readme = {
        "default_timeout_seconds": 60,
        "processes": {
            "my_server": {"heartbeat_path": "/var/lib/heartbeats/my_server.json",
                          "timeout_seconds": 30},
            "nightly_backup": {"heartbeat_path": "backup.json", "schedule": "0 2 * * *",
                               "timezone": "Europe/Berlin", "labels": {"team": "storage"}},
        },
        "heartbeat_dirs": [{"path": "/var/lib/heartbeats/workers", "timeout_seconds": 60,
                            "labels": {"team": "batch"}}],
    }
    valid = {
        "valid_readme.json": json.dumps(readme, indent=2),
        "valid_empty.json": "{}",
        "valid_only_dirs.json": json.dumps({"heartbeat_dirs": [{"path": "workers"},
                                                               {"path": "../other/./dir"}]}),
        "valid_default_after_processes.json":
            '{"processes": {"b": {"heartbeat_path": "b.json"}, "a": {"heartbeat_path": "a.json"}},'
            ' "default_timeout_seconds": 2.5}',
        "valid_unicode_key.json": json.dumps({"processes": {"caf\u00e9": {"heartbeat_path": "x"}}}),
        "valid_schedules.json": json.dumps({
            "processes": {"a": {"heartbeat_path": "a", "schedule": "*/7 1-5/2 29 feb SUN,7",
                                "timezone": "America/New_York", "grace_seconds": 0},
                          "b": {"heartbeat_path": "b", "schedule": "@annually"}},
            "heartbeat_dirs": [{"path": "d", "schedule": "30 2 31 2 1", "grace_seconds": 1.5}]}),
    }
    invalid = {
        "unknown_field.json": '{"processes": {"my_server": {"heartbeat_path": "a", "timeout_secs": 1}}}',
        "duplicate_field.json": '{"default_timeout_seconds": 1, "default_timeout_seconds": 2}',
        "duplicate_process.json": '{"processes": {"a": {"heartbeat_path": "x"}, "a": {"heartbeat_path": "y"}}}',
        "missing_path.json": '{"processes": {"a": {}}, "heartbeat_dirs": [{}]}',
        "timeout_zero.json": '{"default_timeout_seconds": 0}',
        "timeout_negative.json": '{"heartbeat_dirs": [{"path": "d", "timeout_seconds": -1}]}',
        "timeout_overflow.json": '{"default_timeout_seconds": 1e400}',
        "timeout_string.json": '{"default_timeout_seconds": "60"}',
        "empty_key.json": '{"processes": {"": {"heartbeat_path": "x"}}}',
        "control_char_key.json": '{"processes": {"a\\nb": {"heartbeat_path": "x", "bad": 1}}}',
        "label_reserved.json": '{"processes": {"a": {"heartbeat_path": "x", "labels": {"process": "p"}}}}',
        "label_target.json": '{"processes": {"a": {"heartbeat_path": "x", "labels": {"job": "p", "le": "1"}}}}',
        "label_dunder.json": '{"heartbeat_dirs": [{"path": "d", "labels": {"__name__": "x"}}]}',
        "label_empty_value.json": '{"heartbeat_dirs": [{"path": "d", "labels": {"team": ""}}]}',
        "label_not_string.json": '{"heartbeat_dirs": [{"path": "d", "labels": {"team": 1}}]}',
        "path_empty.json": '{"processes": {"a": {"heartbeat_path": ""}}}',
        "path_nul.json": '{"processes": {"a": {"heartbeat_path": "a\\u0000b"}}}',
        "check_pid_string.json": '{"processes": {"a": {"heartbeat_path": "x", "check_pid": "no"}}}',
        "dirs_not_array.json": '{"heartbeat_dirs": {"path": "d"}}',
        "not_object.json": "[]",
        "trailing_garbage.json": "{} {}",
        "nul_byte.json": b"{}\0{\"x\": 1}",
        "bad_utf8.json": b'{"processes": {"caf\xe9": {"heartbeat_path": "x"}}}',
        "schedule_never_due.json": '{"processes": {"a": {"heartbeat_path": "x", "schedule": "0 0 30 2 *"}}}',
        "schedule_range_backwards.json": '{"heartbeat_dirs": [{"path": "d", "schedule": "0 0 * * fri-mon"}]}',
        "schedule_control_char.json": '{"processes": {"a": {"heartbeat_path": "x", "schedule": "0 0 * * *\\n"}}}',
        "timezone_unknown.json": '{"processes": {"a": {"heartbeat_path": "x", "schedule": "@daily", "timezone": "../../etc/passwd"}}}',
        "timezone_without_schedule.json": '{"processes": {"a": {"heartbeat_path": "x", "timezone": "UTC"}}}',
        "grace_negative.json": '{"processes": {"a": {"heartbeat_path": "x", "schedule": "@daily", "grace_seconds": -1}}}',
        "deep_nesting.json": '{"processes": ' + "[" * 2000 + "]" * 2000 + "}",
    }
    for name, content in {**valid, **invalid}.items():
        write("config", name, content)


def main():
    for target in ("heartbeat", "timestamp", "config"):
        shutil.rmtree(CORPUS / target, ignore_errors=True)
        (CORPUS / target).mkdir(parents=True)
    heartbeats()
    timestamps()
    configs()


if __name__ == "__main__":
    main()
