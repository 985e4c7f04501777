"""Shared test helpers (tests/ is on sys.path under pytest's default import mode)."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL_DEEP_LINEAR = ["train.steps=120", "model.d_hidden=32", "train.schedule.n_log=12"]  # settings: the deep-linear study, small


def file_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, by its path relative to it."""
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


class Crash:
    """A tracker that simulates a kill (an interrupt) when training reaches ``at``."""

    name = "crash"

    def __init__(self, at):
        self.at = at

    def __call__(self, model, step, data):
        if step == self.at:
            raise KeyboardInterrupt("simulated kill")
        return []


TIMEOUT_FACTOR = 5.0
"""Default multiple of a quiet machine's bound. On a busy 2-core machine (load average 4–8) the
edge-of-stability quick preset took 1.8× the time it was budgeted on a quiet one; 5 leaves room
for a busier one."""


def timeout(quiet_seconds: float) -> float:
    """A subprocess timeout that holds on a busy machine: ``quiet_seconds`` times a factor.

    ``quiet_seconds`` is a generous bound on a quiet 2-core machine; the factor is
    :data:`TIMEOUT_FACTOR` unless the environment sets ``MECHBRIDGE_TEST_TIMEOUT_FACTOR``
    (read at call time). A timeout only turns a hung child into a failure; it is no
    assertion on speed.
    """
    factor = float(os.environ.get("MECHBRIDGE_TEST_TIMEOUT_FACTOR", TIMEOUT_FACTOR))
    if factor <= 0:
        raise ValueError(f"MECHBRIDGE_TEST_TIMEOUT_FACTOR must be positive, got {factor}")
    return quiet_seconds * factor


def counted_row(report, part: str):
    """The one counted row (claim or check) of a bridge report whose name contains ``part``."""
    (row,) = [r for r in report.rows if r.counted and part in r.name]
    return row


def judged_induction_rows(times, targets, **changes):
    """The induction-heads rows judged on its synthetic observables at ``times`` with ``changes`` made,
    by name (a claim's name up to its bracket), and the report's verdict."""
    import dataclasses

    import bridge
    from case_studies.induction_heads.verdict import judge, synthetic_observed

    obs = dataclasses.replace(synthetic_observed(times), **changes)
    rows = judge(obs, d_vocab=64, n_chains=2, targets=targets)
    report = bridge.BridgeReport("induction-heads", "quick", 0)
    report.matches, report.checks = rows.matches, rows.checks
    return {r.name.split(" (")[0] if hasattr(r, "prediction") else r.name: r for r in (*rows.matches, *rows.checks)}, report.verdict


def row_starting(rows, start: str):
    """The one row of ``rows`` (by name) whose name starts with ``start``."""
    (row,) = [r for name, r in rows.items() if name.startswith(start)]
    return row


def walsh_diagonal_kernel(d: int, per_degree):
    """A kernel on the cube ``{±1}^d`` diagonal in the Walsh basis with eigenvalue ``per_degree[|S|]``:
    ``(K (2^d, 2^d), χ (2^d masks, 2^d points))``, both numpy."""
    import numpy as np
    import torch

    from bridge.tasks.boolean_cube import cube_points, mask_degrees, walsh_function

    x = cube_points(d).double()
    chi = torch.stack([walsh_function(x, [j for j in range(d) if m >> j & 1]) for m in range(2**d)]).numpy()
    return chi.T @ np.diag(np.asarray(per_degree)[mask_degrees(d).numpy()]) @ chi, chi


def page_blocks(page: str, language: str = "python") -> list[str]:
    """The ```<language> blocks of the docs page ``docs/<page>``, in order."""
    return re.findall(rf"```{language}\n(.*?)```", (ROOT / "docs" / page).read_text(), re.S)


def page_block(page: str, placeholder: str, out, where: str | None = None) -> str:
    """The one python block of ``docs/<page>`` (the one containing ``where``, if given), with its
    run directory literal ``placeholder`` (as written, quotes included; it must appear once) set to ``out``."""
    blocks = [b for b in page_blocks(page) if where is None or where in b]
    assert len(blocks) == 1, f"docs/{page}: {len(blocks)} python blocks{'' if where is None else f' holding {where!r}'}, expected 1"
    (block,) = blocks
    assert block.count(placeholder) == 1, f"docs/{page}: {placeholder} appears {block.count(placeholder)} times in its block"
    return block.replace(placeholder, repr(str(out)))


def page_table(page: str, header: str) -> list[dict[str, str]]:
    """The rows of the one markdown table of ``docs/<page>`` whose header row contains ``header``, each a dict
    from column title to cell text (stripped; a column title that repeats gets `` 2``, `` 3`` ... appended).

    >>> [r["seed"] for r in page_table("case_studies/deep-linear.md", "| seed | verdict |")]
    ['0', '1', '2']
    """
    lines = (ROOT / "docs" / page).read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("|") and header in line and lines[i + 1].startswith("|---")]
    assert len(starts) == 1, f"docs/{page}: {len(starts)} tables with {header!r} in their header row, expected 1"
    titles: list[str] = []
    for title in _cells(lines[starts[0]]):
        repeats = sum(t == title or re.fullmatch(rf"{re.escape(title)} \d+", t) is not None for t in titles)
        titles.append(f"{title} {repeats + 1}" if repeats else title)
    rows = []
    for line in lines[starts[0] + 2 :]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        assert len(cells) == len(titles), f"docs/{page}: a row of {len(cells)} cells under {len(titles)} titles: {line}"
        rows.append(dict(zip(titles, cells)))
    return rows


def page_row(page: str, header: str, first: str = "0") -> dict[str, str]:
    """The one row of :func:`page_table` whose first cell is ``first`` (default: seed 0's row)."""
    rows = [r for r in page_table(page, header) if next(iter(r.values())) == first]
    assert len(rows) == 1, f"docs/{page}: {len(rows)} rows starting {first!r} in the table headed {header!r}"
    return rows[0]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def as_printed(value: float, text: str) -> str:
    """``value`` written the way the number ``text`` is written on a page: as many decimals, a minus sign ``−``
    unless ``text`` has an ASCII ``-``, a leading ``+`` kept. Assert ``as_printed(v, t) == t`` to check a page's number.

    >>> as_printed(0.92749, "0.927"), as_printed(-0.4567, "−0.46"), as_printed(3, "3.0"), as_printed(0.014, "+1")
    ('0.927', '−0.46', '3.0', '+0')
    """
    number = re.fullmatch(r"([+−-]?)(\d+)(?:\.(\d+))?", text.strip())
    assert number, f"not a plain number: {text!r}"
    written = f"{value:{'+' if number[1] == '+' else ''}.{len(number[3] or '')}f}"
    return written if number[1] == "-" else written.replace("-", "−")


def run_python(code: str, quiet_seconds: float, cwd=None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (``python -c``) and fail with its stderr unless it exits 0."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout(quiet_seconds), cwd=cwd)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def run_cli(args, cwd, quiet_seconds: float) -> subprocess.CompletedProcess:
    """``mechbridge ARGS`` in ``cwd`` as the installed script runs it, failing with its stderr unless it exits 0.

    ``python -P`` keeps the working directory off ``sys.path`` (a console script does not add it), only the
    repository is on ``PYTHONPATH`` and no ``MECHBRIDGE_PLUGINS`` is inherited, so a plugin module in ``cwd``
    imports only if the command line finds it there itself.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("MECHBRIDGE_PLUGINS", None)
    done = subprocess.run([sys.executable, "-P", "-m", "bridge.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout(quiet_seconds))
    assert done.returncode == 0, f"mechbridge {' '.join(map(str, args))}: {done.stderr[-3000:]}"
    return done


WEIGHT_COUNT_PLUGIN = """from dataclasses import dataclass
from bridge.trackers import TRACKERS
from bridge.trackers.base import row

@TRACKERS.register("weight_count")
@dataclass
class WeightCount:
    name: str = "weight_count"
    def __call__(self, model, step, data):
        return [row("weights/count", sum(p.numel() for p in model.parameters()))]
"""
"""A plugin module's source: it registers the tracker ``weight_count`` (row ``weights/count``, the model's parameter count)."""


class ThreadCount:
    """A tracker that records torch's thread count at every step it measures (``.seen``) and writes no row."""

    name = "threads"

    def __init__(self):
        self.seen = []

    def __call__(self, model, step, data):
        import torch

        self.seen.append(torch.get_num_threads())
        return []


def without_heads(model, config, heads):
    """A fresh copy of the toy transformer ``model`` (built from ``config``, weights copied through
    ``state_dict``) whose ``W_O`` columns of each ``(layer, head)`` in ``heads`` are zero: zero
    ablation without hooks, the dense reference of the ablation probes."""
    from bridge.models import build_model

    copy = build_model(config, seed=0)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for layer, head in heads:
        state[f"blocks.{layer}.attn.o.weight"][:, head * config.d_head : (head + 1) * config.d_head] = 0.0
    copy.load_state_dict(state)
    return copy


class Killed(BaseException):
    """The process killed at this point of a write."""


def kill_writing(monkeypatch, name: str) -> None:
    """Make ``bridge.runs.storage.atomic_write_text`` raise :class:`Killed` instead of writing a file named ``name``
    (a process killed between a table's JSON and its markdown); ``monkeypatch.undo()`` or a new setattr ends it."""
    from bridge.runs import storage

    write_text = storage.atomic_write_text

    def killed_at(path, text):
        if Path(path).name == name:
            raise Killed
        write_text(path, text)

    monkeypatch.setattr(storage, "atomic_write_text", killed_at)


def packed_metadata(plain: bytes, metadata: dict[str, str] | None) -> dict[str, str]:
    """The metadata a checkpoint of the tensors in ``plain`` (safetensors' bytes without metadata) carries: the given
    metadata, the SHA-256 of the tensor data and that of the header's tensor entries with the metadata, as one JSON text."""
    import hashlib
    import json
    import struct

    from bridge.runs.storage import DIGEST, HEADER_DIGEST, PACKED

    (length,) = struct.unpack("<Q", plain[:8])
    entries = json.loads(plain[8 : 8 + length])
    header = json.dumps({"metadata": metadata or {}, "tensors": entries}, sort_keys=True, separators=(",", ":"))
    digests = {DIGEST: hashlib.sha256(plain[8 + length :]).hexdigest(), HEADER_DIGEST: hashlib.sha256(header.encode()).hexdigest()}
    return {PACKED: json.dumps({**(metadata or {}), **digests}, sort_keys=True)}


import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402


class LargestTensor(TorchDispatchMode):
    """Within ``with LargestTensor() as seen:``, ``seen.most`` is the most elements of any tensor an operation returned."""

    def __init__(self) -> None:
        super().__init__()
        self.most = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.most = max(self.most, t.numel())
        return out
