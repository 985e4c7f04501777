"""The run directory: the read-only :class:`Run` API, metrics tables and atomic storage.

Public names load on first use (reading a stored report needs none of torch).

Examples:
    >>> from bridge.runs import RunError
    >>> issubclass(RunError, RuntimeError)
    True
"""

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
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
