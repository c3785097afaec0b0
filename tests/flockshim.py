"""Build the LD_PRELOAD shim of ``tests/flockshim.c`` (node-local or missing ``flock``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SOURCE = Path(__file__).with_name("flockshim.c")


def build(directory: Path) -> Path:
    """Compile the shim into ``directory``; skip the test when there is no C compiler."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler to build the flock shim")
    lib = directory / "flockshim.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-O2", "-o", str(lib), str(SOURCE), "-ldl"],
                   check=True, capture_output=True, text=True)
    lib.chmod(0o755)
    return lib
