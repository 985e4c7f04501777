"""Atomic file writes and safetensors (de)serialisation of model and optimizer state.

Every write goes to a temporary file in the same directory and is then renamed
over the target, so a killed process leaves either the old file or the new
one, never half of one. Files are not fsync-ed (that cost more than the
training of a toy model): after an operating-system crash a recent file may
be empty or truncated, which loading reports by name and resuming skips.
Nothing is ever unpickled.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import struct
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.runs.errors import CorruptFileError

if TYPE_CHECKING:  # torch and safetensors load with the first tensor read or written: JSON needs neither
    import torch


def _tmp_path(path: str) -> str:
    head, name = os.path.split(path)
    return os.path.join(head, f".{name}.tmp-{os.getpid()}")


def _replace(tmp: str, path: str) -> None:
    os.replace(tmp, path)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a reader sees the old file or the new one, never part of it.

    Written with bare ``os`` calls: each call a background writer makes gives up the
    interpreter lock once, and a buffered file object makes several more of them.

    Examples:
        >>> import tempfile, os; file = os.path.join(tempfile.mkdtemp(), "a.bin")
        >>> atomic_write_bytes(file, b"new"); open(file, "rb").read(), sorted(os.listdir(os.path.dirname(file)))
        (b'new', ['a.bin'])
    """
    path = os.fspath(path)  # strings, not Paths: a background writer holds the interpreter lock for less
    tmp = _tmp_path(path)
    try:
        _write_all(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666), data)
        _replace(tmp, path)
    except BaseException:  # a write that fails (a full disk, Ctrl-C) leaves the old file and no temporary one
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


_TEMPORARY = re.compile(r"\.(?P<target>.+)\.tmp-(?P<pid>\d+)(?P<suffix>\.png)?")  # the names _tmp_path and plots.save_figure give


def stale_temporary_files(folder: str | Path, targets: Sequence[str] | None = None) -> list[Path]:
    """The temporary files in ``folder`` left by an atomic write whose process is gone (killed mid-write).

    Only files of that name pattern (``.NAME.tmp-PID``, and a figure's ``.STEM.tmp-PID.png``) are listed,
    and of those only the ones whose process no longer exists or is this one (no write of this
    process is under way while it looks); ``targets`` restricts them to the files written as one of
    those names. A finished file is never listed. Removing the ones listed is always safe.

    Examples:
        >>> import tempfile; folder = Path(tempfile.mkdtemp())
        >>> for name in (".seed_report.json.tmp-4000000", f".report.md.tmp-{os.getppid()}", "seed_report.json", ".a.tmp-x"):
        ...     _ = (folder / name).write_text("{")
        >>> [p.name for p in stale_temporary_files(folder)], stale_temporary_files(folder, ["report.json"])
        (['.seed_report.json.tmp-4000000'], [])
    """
    found = []
    for path in sorted(Path(folder).glob(".*.tmp-*")):
        m = _TEMPORARY.fullmatch(path.name)
        if m is None or not path.is_file():
            continue
        target = m["target"] + (m["suffix"] or "")
        if targets is not None and target not in targets:
            continue
        pid = int(m["pid"])
        if pid == os.getpid() or not _alive(pid):
            found.append(path)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # none has this pid, or none can
        return False
    except PermissionError:  # another user's process
        return True
    return True


def append_bytes(path: str | Path, data: bytes) -> None:
    """Append ``data`` to ``path`` (created when missing), with bare ``os`` calls.

    Not atomic: a killed writer may leave part of ``data``, which is why a run records the
    table's size at each resume point and a resume cuts the file back to it.

    Examples:
        >>> import tempfile, os; file = os.path.join(tempfile.mkdtemp(), "metrics.csv")
        >>> append_bytes(file, b"step,loss\\n"); append_bytes(file, b"0,1.5\\n"); open(file).read()
        'step,loss\\n0,1.5\\n'
    """
    _write_all(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666), data)


def whole_rows_size(path: str | Path, block: int = 1 << 16) -> int:
    """The size of ``path`` up to and including its last newline (0 when it holds none or is missing), read back from its end
    ``block`` bytes at a time: where a table of whole rows ends, without reading the table.

    Examples:
        >>> import tempfile, os; file = os.path.join(tempfile.mkdtemp(), "metrics.csv")
        >>> append_bytes(file, b"step,observable,value\\n0,loss,0.5\\n3,lo"); whole_rows_size(file), whole_rows_size(file, block=4)
        (33, 33)
    """
    if not os.path.isfile(path):
        return 0
    with open(path, "rb") as f:
        end = f.seek(0, os.SEEK_END)
        while end > 0:
            start = max(0, end - block)
            f.seek(start)
            if (last := f.read(end - start).rfind(b"\n")) >= 0:
                return start + last + 1
            end = start
    return 0


def _write_all(fd: int, data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8).

    Examples:
        >>> import tempfile, os; file = os.path.join(tempfile.mkdtemp(), "report.md")
        >>> atomic_write_text(file, "κ = 5.6"); open(file, encoding="utf-8").read()
        'κ = 5.6'
    """
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON to ``path`` atomically, indented unless ``indent`` is ``None``
    (one line, several times faster to encode: for files rewritten at every checkpoint).

    Examples:
        >>> import tempfile, os; file = os.path.join(tempfile.mkdtemp(), "a.json")
        >>> atomic_write_json(file, {"loss": torch.tensor(0.5)}, indent=None); open(file).read()
        '{"loss": 0.5}\\n'
    """
    atomic_write_bytes(path, json_bytes(obj, indent))


def json_bytes(obj: Any, indent: int | None = 2) -> bytes:
    """``obj`` as the bytes :func:`atomic_write_json` writes (tensors and arrays as lists).

    Examples:
        >>> json_bytes({"w": torch.ones(2), "n": np.int64(3)}, indent=None)
        b'{"w": [1.0, 1.0], "n": 3}\\n'
    """
    return (json.dumps(obj, indent=indent, default=_json_default) + "\n").encode()


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # tensors and arrays
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: str | Path) -> Any:
    """Read a JSON file; a missing or unreadable one raises naming the file.

    Examples:
        >>> import tempfile, os; file = os.path.join(tempfile.mkdtemp(), "run.json")
        >>> atomic_write_text(file, '{"seed": 0, "status": "complete"}'); read_json(file)
        {'seed': 0, 'status': 'complete'}
    """
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise CorruptFileError(f"{path} is a directory, not a JSON file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:  # named by its path: one of many seeds' or points' run.json
        raise CorruptFileError(f"{path} is not valid JSON ({e})") from None


PACKED = "json"  # the metadata is stored as one JSON string under this one key, so the file's bytes are reproducible
DIGEST = "data_sha256"  # in the packed metadata: the SHA-256 of the tensor data, checked on every load
HEADER_DIGEST = "header_sha256"  # and of the header: each tensor's name, dtype, shape and place, and the metadata
_RESERVED = (DIGEST, HEADER_DIGEST)


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Save ``tensors`` as safetensors atomically (tensors are made contiguous and unshared).

    The metadata is stored as one JSON string with sorted keys (safetensors writes several
    keys in an order that varies from process to process), together with the SHA-256 of the
    tensor data and that of the header (each tensor's name, dtype, shape and offsets, and the
    metadata), which :func:`load_tensors` checks; :func:`read_metadata` unpacks it.

    Examples:
        >>> import tempfile, os; file = os.path.join(tempfile.mkdtemp(), "step_00000003.safetensors")
        >>> save_tensors(file, {"w": torch.eye(2)}, {"step": "3", "kind": "step"}); read_metadata(file)
        {'kind': 'step', 'step': '3'}
    """
    atomic_write_bytes(path, tensors_to_bytes(tensors, metadata))  # serialised in memory: the only file is our own temporary one


def tensors_to_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """The safetensors file :func:`save_tensors` writes, as bytes (copies taken: the tensors may change afterwards).

    Examples:
        >>> import torch
        >>> from safetensors.torch import load
        >>> load(tensors_to_bytes({"w": torch.eye(2)}, {"step": "3"}))["w"].tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    if metadata and (taken := [k for k in _RESERVED if k in metadata]):
        raise ValueError(f"metadata key {taken[0]!r} is reserved for a checksum of the file")
    laid = _lay_out(tensors)
    if laid is not None:
        entries, chunks = laid
        digest = hashlib.sha256()
        for chunk in chunks:
            digest.update(chunk)
        header = json.dumps({"__metadata__": _packed(metadata, digest.hexdigest(), entries), **entries}, separators=(",", ":")).encode()
        header += b" " * (-len(header) % 8)  # the data starts 8-byte aligned
        return b"".join([struct.pack("<Q", len(header)), header, *chunks])  # the one copy of the tensors' memory
    from safetensors.torch import save

    cpu = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    _, entries, data = _split(save(cpu))
    return save(cpu, metadata=_packed(metadata, hashlib.sha256(data).hexdigest(), entries))


def _packed(metadata: dict[str, str] | None, digest: str, entries: dict[str, Any]) -> dict[str, str]:
    return {PACKED: json.dumps({**(metadata or {}), DIGEST: digest, HEADER_DIGEST: _header_digest(entries, metadata or {})}, sort_keys=True)}


def _header_digest(entries: dict[str, Any], metadata: dict[str, str]) -> str:
    """The SHA-256 of a file's tensor entries (name → dtype, shape, data offsets) and its metadata, in one canonical JSON text."""
    return hashlib.sha256(json.dumps({"metadata": metadata, "tensors": entries}, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _split(raw: bytes) -> tuple[dict[str, str], dict[str, Any], bytes]:
    """The string metadata in the header of a safetensors file's bytes (``{}`` when none), its tensor entries and its tensor data."""
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    metadata = header.get("__metadata__")
    return metadata if isinstance(metadata, dict) else {}, {k: v for k, v in header.items() if k != "__metadata__"}, raw[8 + length :]


def _check_header(path: Path, unpacked: dict[str, str], entries: dict[str, Any]) -> dict[str, str]:
    """The metadata given when ``path`` was saved, once the header's checksum (if recorded) is found to match."""
    given = {k: v for k, v in unpacked.items() if k not in _RESERVED}
    stored = unpacked.get(HEADER_DIGEST)
    if stored is not None and _header_digest(entries, given) != stored:
        raise CorruptFileError(f"checkpoint {path.name} has a header that does not match the checksum it was saved with (damaged since it was written)")
    return given


# The dtypes serialised here, with their names in the format and their rank in its order
# (safetensors lays tensors out by dtype, the higher rank first, then by name).
_DTYPE_NAMES = {"bool": "BOOL", "uint8": "U8", "int8": "I8", "int16": "I16", "float16": "F16", "bfloat16": "BF16", "int32": "I32", "float32": "F32", "float64": "F64", "int64": "I64"}


@functools.cache
def _dtype_ranks() -> dict[torch.dtype, tuple[str, int]]:
    import torch

    return {getattr(torch, name): (label, rank) for rank, (name, label) in enumerate(_DTYPE_NAMES.items())}


def _lay_out(tensors: dict[str, torch.Tensor]) -> tuple[dict[str, Any], list[Any]] | None:
    """The header entries and the data ``safetensors.torch.save`` writes for ``tensors``, built
    without its per-tensor Python work; ``None`` (the caller falls back to it) for other dtypes,
    names that are not printable ASCII (whose JSON escaping could differ), or a big-endian machine.

    The data is a list of byte arrays in file order that share the tensors' memory (no copy: a
    checkpoint of a width-8192 MLP and its Adam state is 0.8 GB); the caller copies them at once."""
    import torch

    if sys.byteorder != "little":
        return None
    ranks = _dtype_ranks()
    if any(t.dtype not in ranks for t in tensors.values()) or not all(s.isascii() and s.isprintable() for s in tensors):
        return None
    entries: dict[str, Any] = {}
    chunks, offset = [], 0
    for name in sorted(tensors, key=lambda k: (-ranks[tensors[k].dtype][1], k)):
        t = tensors[name]
        flat = t.detach().to("cpu").contiguous().reshape(-1)
        if flat.stride(0) != 1:  # at most one element, viewed with another stride (x[::2] of two, an expanded scalar): contiguous() leaves it
            flat = flat.clone(memory_format=torch.contiguous_format)
        data = flat.view(torch.uint8).numpy()  # keeps the tensor alive
        entries[name] = {"dtype": ranks[t.dtype][0], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    return entries, chunks


def load_tensors(path: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load a safetensors file (name → tensor); a truncated or corrupt file raises :class:`CorruptFileError` naming it.

    A file that records the checksum of its tensor data (every file :func:`save_tensors` writes)
    is checked against it, so a damaged value is never loaded.

    Examples:
        >>> import tempfile, os; file = os.path.join(tempfile.mkdtemp(), "w.safetensors"); save_tensors(file, {"w": torch.eye(2)})
        >>> load_tensors(file)["w"].tolist()
        [[1.0, 0.0], [0.0, 1.0]]
        >>> raw = bytearray(open(file, "rb").read()); raw[-1] ^= 1; _ = open(file, "wb").write(raw)  # one bit of the data flipped
        >>> load_tensors(file)
        Traceback (most recent call last):
        ...
        bridge.runs.errors.CorruptFileError: checkpoint w.safetensors does not match the checksum it was saved with (damaged since it was written)
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        raw = path.read_bytes()
        tensors, (metadata, entries, data) = load(raw), _split(raw)
    except (SafetensorError, OSError, ValueError, RuntimeError, struct.error) as e:
        raise CorruptFileError(f"checkpoint {path.name} is corrupt or truncated ({e})") from None
    unpacked = _unpacked(metadata, path)
    _check_header(path, unpacked, entries)
    stored = unpacked.get(DIGEST)
    if stored is not None and hashlib.sha256(data).hexdigest() != stored:
        raise CorruptFileError(f"checkpoint {path.name} does not match the checksum it was saved with (damaged since it was written)")
    return tensors if str(device) == "cpu" else {k: v.to(device) for k, v in tensors.items()}


def read_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a safetensors file (as given to :func:`save_tensors`).

    Raises:
        CorruptFileError: the file is not a readable safetensors file, or its metadata is malformed.

    Examples:
        >>> import tempfile, os; file = os.path.join(tempfile.mkdtemp(), "step_00000100.safetensors")
        >>> save_tensors(file, {"w": torch.zeros(2)}, metadata={"step": "100"}); read_metadata(file)
        {'step': '100'}
        >>> _ = open(file, "r+b").write(b"garbage!"); read_metadata(file)
        Traceback (most recent call last):
        ...
        bridge.runs.errors.CorruptFileError: checkpoint step_00000100.safetensors is corrupt or truncated (...)
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt"):
            pass  # the header parses and the tensors fill the file
        with open(path, "rb") as f:  # then the header alone is read, once, for its metadata and entries
            (length,) = struct.unpack("<Q", f.read(8))
            metadata, entries, _ = _split(struct.pack("<Q", length) + f.read(length))
    except (SafetensorError, OSError, ValueError, RuntimeError, struct.error) as e:
        raise CorruptFileError(f"checkpoint {path.name} is corrupt or truncated ({e})") from None
    return _check_header(path, _unpacked(metadata, path), entries)


def _unpacked(metadata: dict[str, str], path: Path) -> dict[str, str]:
    if set(metadata) != {PACKED}:  # a file written with its metadata as separate keys
        return metadata
    try:
        unpacked = json.loads(metadata[PACKED])
    except ValueError:
        unpacked = None
    if not isinstance(unpacked, dict) or not all(isinstance(v, str) for v in unpacked.values()):
        raise CorruptFileError(f"checkpoint {path.name} holds unreadable metadata")
    return unpacked
