"""A beat on a full disk: OSError naming the heartbeat, and the previous heartbeat intact.

Mounts a 64 KiB tmpfs, so it needs root (CI runs as root); as another user it is skipped.
"""

import ctypes
import errno
import os

import pytest

from conftest import file_names
from heartbeat_exporter.reader import read_heartbeat
from heartbeat_exporter.writer import HeartbeatWriter

_libc = ctypes.CDLL(None, use_errno=True)
_MNT_DETACH = 2

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: mounts a 64 KiB tmpfs (CI runs as root)")


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs, detached when the test ends."""
    where = tmp_path / "disk"
    where.mkdir()
    if _libc.mount(b"tmpfs", bytes(where), b"tmpfs", 0, b"size=64k") != 0:
        code = ctypes.get_errno()
        pytest.fail(f"mount -t tmpfs -o size=64k {where} failed: {os.strerror(code)}")
    try:
        yield where
    finally:
        _libc.umount2(bytes(where), _MNT_DETACH)


def fill(folder):
    """Writes a file until the disk is full; returns its path."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        with pytest.raises(OSError) as raised:
            while True:
                f.write(b"x" * 4096)
    assert raised.value.errno == errno.ENOSPC
    return filler


def test_a_full_disk_raises_oserror_naming_the_path_and_keeps_the_previous_heartbeat(small_disk):
    writer = HeartbeatWriter(heartbeat_dir=small_disk / "heartbeats", process_key="worker")
    writer.beat()
    previous = open(writer.path, "rb").read()
    filler = fill(small_disk)

    with pytest.raises(OSError) as raised:
        writer.beat()
    assert raised.value.errno == errno.ENOSPC
    assert raised.value.filename == writer.path
    assert writer.path in str(raised.value)
    assert "No space left on device" in str(raised.value)
    assert open(writer.path, "rb").read() == previous
    assert file_names(small_disk / "heartbeats") == ["worker.json"]
    assert writer.iteration == 1

    # Once there is room again, the next beat carries on where the last good one left off.
    os.unlink(filler)
    writer.beat()
    assert read_heartbeat(writer.path).iteration == 2
