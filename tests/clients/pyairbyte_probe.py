"""What PyAirbyte understands of a registry. Run by PyAirbyte's own interpreter (its isolated
environment, never the project's), with `AIRBYTE_LOCAL_REGISTRY` naming the registry file:

    <pyairbyte python> pyairbyte_probe.py <output.json>

Every socket connection is refused before PyAirbyte is imported, so it can never download a
registry, a manifest or telemetry; it must work from the local file alone."""

from __future__ import annotations

import json
import shutil
import socket
import sys


def _refuse(*args, **kwargs):
    raise OSError("network access is blocked in the PyAirbyte probe")


socket.socket.connect = _refuse  # type: ignore[method-assign]
socket.socket.connect_ex = _refuse  # type: ignore[method-assign]
socket.create_connection = _refuse


def main(output_path: str) -> None:
    import airbyte
    from airbyte import registry

    listed = airbyte.get_available_connectors(install_type="any")
    understood = {}
    for name in listed:
        metadata = registry.get_connector_metadata(name)
        understood[name] = {
            "name": metadata.name,
            "display_name": metadata.display_name,
            "latest_available_version": metadata.latest_available_version,
            "pypi_package_name": metadata.pypi_package_name,
            "language": metadata.language.value if metadata.language else None,
            "install_types": sorted(install_type.value for install_type in metadata.install_types),
        }
    report = {
        "pyairbyte_version": getattr(airbyte, "__version__", None) or registry.get_version(),
        "docker_installed": shutil.which("docker") is not None,
        "listed_any": listed,
        "listed_default": airbyte.get_available_connectors(),
        "connectors": understood,
    }
    with open(output_path, "w", encoding="utf-8") as output:
        json.dump(report, output, indent=2, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1])
