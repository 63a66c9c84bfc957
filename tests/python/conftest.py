"""Shared by the tests of the Python package (src/python/heartbeat_exporter).

Run from a checkout with:  PYTHONPATH=src/python python3 -m pytest tests/python
ctest runs them under the label `python`, with HEARTBEAT_EXPORTER_BINARY set to the built
exporter for the tests that scrape it.
"""

import os

import pytest


@pytest.fixture
def umask():
    """Sets the process umask for one test and restores it afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield os.umask
    os.umask(previous)


def file_names(folder):
    return sorted(os.listdir(folder))
