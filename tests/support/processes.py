"""Helpers the Python test scripts share for the servers they start."""
import ctypes
import signal
import socket

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def free_port():
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def die_with_parent():
    """preexec_fn for servers: even a SIGKILLed test (ctest timeout) leaves none behind."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
