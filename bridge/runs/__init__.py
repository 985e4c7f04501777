"""The run directory: the read-only :class:`Run` API, metrics tables and atomic storage.

Public names load on first use (reading a stored report needs none of torch).

Examples:
    >>> from bridge.runs import RunError
    >>> issubclass(RunError, RuntimeError)
    True
"""

from typing import TYPE_CHECKING

from bridge.registry import lazy_exports

_EXPORTS = {
    "CorruptFileError": "bridge.runs.errors",
    "Diverged": "bridge.runs.errors",
    "RunError": "bridge.runs.errors",
    "MetricsLog": "bridge.runs.metrics",
    "Run": "bridge.runs.run",
    "checkpoint_path": "bridge.runs.checkpoints",
    "load_run": "bridge.runs.run",
    "load_weights": "bridge.runs.weights",
    "read_metrics": "bridge.runs.metrics",
    "saved_steps": "bridge.runs.checkpoints",
    "FileBatch": "bridge.runs.file_queue",
    "FileQueue": "bridge.runs.file_queue",
    "atomic_write_json": "bridge.runs.storage",
    "atomic_write_text": "bridge.runs.storage",
    "load_tensors": "bridge.runs.storage",
    "read_json": "bridge.runs.storage",
    "save_tensors": "bridge.runs.storage",
    "tensors_to_bytes": "bridge.runs.storage",
}
if TYPE_CHECKING:  # what each lazy name is, for a type checker (a module __getattr__ would read as Any)
    from bridge.runs.checkpoints import checkpoint_path as checkpoint_path
    from bridge.runs.checkpoints import saved_steps as saved_steps
    from bridge.runs.errors import CorruptFileError as CorruptFileError
    from bridge.runs.errors import Diverged as Diverged
    from bridge.runs.errors import RunError as RunError
    from bridge.runs.file_queue import FileBatch as FileBatch
    from bridge.runs.file_queue import FileQueue as FileQueue
    from bridge.runs.metrics import MetricsLog as MetricsLog
    from bridge.runs.metrics import read_metrics as read_metrics
    from bridge.runs.run import Run as Run
    from bridge.runs.run import load_run as load_run
    from bridge.runs.storage import atomic_write_json as atomic_write_json
    from bridge.runs.storage import atomic_write_text as atomic_write_text
    from bridge.runs.storage import load_tensors as load_tensors
    from bridge.runs.storage import read_json as read_json
    from bridge.runs.storage import save_tensors as save_tensors
    from bridge.runs.storage import tensors_to_bytes as tensors_to_bytes
    from bridge.runs.weights import load_weights as load_weights

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
