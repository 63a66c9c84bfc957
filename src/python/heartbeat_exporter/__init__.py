"""Heartbeat files for heartbeat_exporter: a writer for monitored programs, and a reader.

    from heartbeat_exporter.writer import HeartbeatWriter
    from heartbeat_exporter.reader import read_heartbeat

Python 3.9 or later, standard library only. The files are the ones the exporter's C++ writer
and heartbeatctl write, read with the same verdicts as the exporter's own reader.
"""
