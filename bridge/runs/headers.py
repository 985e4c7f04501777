"""Whether the checkpoint files of a run directory are whole, read from their safetensors headers alone.

A safetensors file is an 8-byte little-endian header length, a JSON header giving each
tensor's byte span in the data after it, and the data. A file cut short or grown by any
number of bytes no longer ends where its spans do; reading the header takes neither torch
nor the weights (a millisecond for the few dozen checkpoints of a run), so ``mechbridge report``
checks every checkpoint this way before it prints a report. A value changed inside the data
is found when the checkpoint is loaded (its checksum).

Examples:
    >>> import json, struct, tempfile, pathlib
    >>> run = pathlib.Path(tempfile.mkdtemp()); (run / CHECKPOINTS).mkdir()
    >>> header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    >>> _ = (run / CHECKPOINTS / "step_00000005.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(8))
    >>> check_headers(run)
    >>> _ = (run / CHECKPOINTS / "step_00000006.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(5))
    >>> check_headers(run)
    Traceback (most recent call last):
    ...
    bridge.runs.errors.CorruptFileError: ...: checkpoint step_00000006.safetensors is corrupt or truncated (its tensors end at byte 8 of its data, which holds 5 bytes)
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path

from bridge.runs.errors import CorruptFileError

CHECKPOINTS = "checkpoints"
CHECKPOINT_FILE = re.compile(r"^(step|optim)_(\d{8})\.safetensors$")


def check_header(file: str | Path) -> None:
    """Raise :class:`CorruptFileError` naming ``file`` if its safetensors header does not parse or its tensors'
    byte spans do not fill its data exactly (the file was cut short or grown).

    Examples:
        >>> import tempfile, pathlib; file = pathlib.Path(tempfile.mkdtemp()) / "step_00000001.safetensors"
        >>> _ = file.write_bytes(b"\\x10\\x00")
        >>> check_header(file)
        Traceback (most recent call last):
        ...
        bridge.runs.errors.CorruptFileError: checkpoint step_00000001.safetensors is corrupt or truncated (2 bytes, fewer than the 8 of its header length)
    """
    file = Path(file)
    try:
        size = os.path.getsize(file)
        with open(file, "rb") as f:
            start = f.read(8)
            if len(start) < 8:
                raise ValueError(f"{size} bytes, fewer than the 8 of its header length")
            (length,) = struct.unpack("<Q", start)
            if length > size - 8:
                raise ValueError(f"its header of {length} bytes runs past the end of the file ({size} bytes)")
            header = json.loads(f.read(length))
        if not isinstance(header, dict):
            raise ValueError("its header is not a JSON object")
        spans = sorted(_span(name, entry) for name, entry in header.items() if name != "__metadata__")
        end = 0
        for begin, finish in spans:
            if begin != end:
                raise ValueError(f"its tensors leave a gap or overlap at byte {end} of its data")
            end = finish
        if end != size - 8 - length:
            raise ValueError(f"its tensors end at byte {end} of its data, which holds {size - 8 - length} bytes")
    except (OSError, ValueError) as e:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CorruptFileError(f"checkpoint {file.name} is corrupt or truncated ({e})") from None


def _span(name: str, entry: object) -> tuple[int, int]:
    offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets) and 0 <= offsets[0] <= offsets[1]):
        raise ValueError(f"its header entry {name!r} has no byte span")
    return offsets[0], offsets[1]


def checkpoint_files(path: str | Path) -> list[Path]:
    """The checkpoint files (weights and optimizer state) of the run directory ``path``, by name.

    Examples:
        >>> import tempfile; checkpoint_files(tempfile.mkdtemp())
        []
    """
    folder = Path(path) / CHECKPOINTS
    return sorted(f for f in folder.iterdir() if CHECKPOINT_FILE.match(f.name)) if folder.is_dir() else []


def check_headers(path: str | Path) -> None:
    """:func:`check_header` of every checkpoint file (weights and optimizer state) of the run directory ``path``.

    Raises:
        CorruptFileError: naming the run directory and the first damaged file.

    Examples:
        >>> import tempfile; check_headers(tempfile.mkdtemp())   # no checkpoints: nothing to check
    """
    path = Path(path)
    try:
        for file in checkpoint_files(path):
            check_header(file)
    except CorruptFileError as e:
        raise CorruptFileError(f"{path}: {e}") from None


__all__ = ["CHECKPOINTS", "CHECKPOINT_FILE", "check_header", "check_headers", "checkpoint_files"]
