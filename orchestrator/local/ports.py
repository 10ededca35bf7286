"""Loopback ports for the local services (emulator, Dagster UI) and their tests."""

from __future__ import annotations

import socket

# The developer's own embedded bucket: never handed out as a free port.
DEFAULT_EMULATOR_PORT = 9023


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the operating system's choice), never the default emulator's."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        if port != DEFAULT_EMULATOR_PORT:
            return port
