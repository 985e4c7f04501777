"""Atomic file writes and safetensors (de)serialisation of model and optimizer state.

Every write goes to a temporary file in the same directory and is then renamed
over the target, so a killed process leaves either the old file or the new
one, never half of one. Files are not fsync-ed (that cost more than the
training of a toy model): after an operating-system crash a recent file may
be empty or truncated, which loading reports by name and resuming skips.
Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

from bridge.runs.errors import CorruptFileError

if TYPE_CHECKING:  # torch and safetensors load with the first tensor read or written: JSON needs neither
    import torch


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _replace(tmp: Path, path: Path) -> None:
    os.replace(tmp, path)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically.

    Written with bare ``os`` calls: each call a background writer makes gives up the
    interpreter lock once, and a buffered file object makes several more of them.
    """
    path = Path(path)
    tmp = _tmp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    _replace(tmp, path)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON to ``path`` atomically, indented unless ``indent`` is ``None``
    (one line, several times faster to encode: for files rewritten at every checkpoint)."""
    atomic_write_text(path, json.dumps(obj, indent=indent, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # tensors and arrays
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: str | Path) -> Any:
    """Read a JSON file; a missing or unreadable one raises naming the file."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CorruptFileError(f"{path.name} is not valid JSON ({e})") from None


PACKED = "json"  # metadata of several keys is stored under this one key, so the file's bytes are reproducible


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Save ``tensors`` as safetensors atomically (tensors are made contiguous and unshared).

    Metadata of several keys is stored as one JSON string with sorted keys (safetensors writes
    several keys in an order that varies from process to process); :func:`read_metadata` unpacks it.
    """
    from safetensors.torch import save

    path = Path(path)
    clean = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    if metadata and len(metadata) > 1:
        metadata = {PACKED: json.dumps(metadata, sort_keys=True)}
    atomic_write_bytes(path, save(clean, metadata=metadata))  # serialised in memory: the only file is our own temporary one


def load_tensors(path: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load a safetensors file; a truncated or corrupt file raises :class:`CorruptFileError` naming it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CorruptFileError(f"checkpoint {path.name} is corrupt or truncated ({e})") from None


def read_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a safetensors file (as given to :func:`save_tensors`)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CorruptFileError(f"checkpoint {Path(path).name} is corrupt or truncated ({e})") from None
    if set(metadata) != {PACKED}:
        return metadata
    try:
        unpacked = json.loads(metadata[PACKED])
    except ValueError:
        unpacked = None
    if not isinstance(unpacked, dict) or not all(isinstance(v, str) for v in unpacked.values()):
        raise CorruptFileError(f"checkpoint {Path(path).name} holds unreadable metadata")
    return unpacked


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Flatten an optimizer's state into tensors plus JSON metadata (no pickle)."""
    import torch

    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    meta = {"param_groups": json.dumps(state["param_groups"]), "scalars": json.dumps(scalars)}
    return tensors, meta


def optimizer_from_tensors(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> dict[str, Any]:
    """Rebuild an optimizer ``state_dict`` written by :func:`optimizer_to_tensors`."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = value
    for idx, entries in json.loads(meta["scalars"]).items():
        state.setdefault(int(idx), {}).update(entries)
    groups = json.loads(meta["param_groups"])
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    return {"state": state, "param_groups": groups}
