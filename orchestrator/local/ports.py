"""Loopback ports for the local services (emulator, Dagster UI) and their tests."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Mapping

import psutil

from orchestrator.settings import DEFAULT_EMULATOR_PORT, setting

UI_PORT_VARIABLE = "UI_PORT"
DEFAULT_UI_PORT = 3000


class PortError(RuntimeError):
    """A port a local service needs is taken or unusable; the message names the port and the variable to change."""


def ui_port(environ: Mapping[str, str] | None = None) -> int:
    raw = setting(UI_PORT_VARIABLE, environ=os.environ if environ is None else environ)
    if not raw:
        return DEFAULT_UI_PORT
    try:
        port = int(raw)
    except ValueError:
        raise PortError(f"{UI_PORT_VARIABLE}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise PortError(f"{UI_PORT_VARIABLE}={raw!r} is not a port number")
    return port


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the operating system's choice), never the default emulator's."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        if port != DEFAULT_EMULATOR_PORT:
            return port


def port_is_taken(host: str, port: int) -> bool:
    """True when a server could not listen on (host, port) now. SO_REUSEADDR as servers set it, so a
    connection lingering in TIME_WAIT does not count; a listener on 0.0.0.0 does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def port_holder(port: int) -> str | None:
    """`pid 123 (name)` of the process listening on `port`, when the system lets us see it."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for connection in connections:
        if connection.status == psutil.CONN_LISTEN and connection.laddr and connection.laddr.port == port:
            if connection.pid is None:
                return None
            try:
                return f"pid {connection.pid} ({psutil.Process(connection.pid).name()})"
            except psutil.Error:
                return f"pid {connection.pid}"
    return None


def require_free_port(host: str, port: int, service: str, variable: str) -> None:
    """Raise PortError naming the port, its holder and the variable to change when it is taken."""
    if not port_is_taken(host, port):
        return
    holder = port_holder(port)
    other = free_port(host)
    example = f"http://{host}:{other}" if variable.endswith("_HOST") else str(other)
    raise PortError(
        f"port {port} on {host}, needed for the {service}, is already in use"
        + (f" by {holder}" if holder else "")
        + f"; choose another port with {variable} (e.g. {variable}={example})"
    )
