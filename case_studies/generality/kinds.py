"""What an output over many runs is: a ``--seeds`` output, a robustness output or a run over hidden widths
(:func:`output_kind` from its files and folders; :func:`output_folder` refuses a folder of another kind, naming
the reader that reads it), for ``mechbridge report`` and the readers in :mod:`case_studies.generality.load` and
:mod:`case_studies.generality.tables`.
"""

from __future__ import annotations

import re
from pathlib import Path

from bridge.runs.errors import RunError
from case_studies.generality.resume import REPORT_FILES, ROBUSTNESS, ROBUSTNESS_MD, UNIVERSALITY, seeds_within

__all__ = ["KINDS", "output_folder", "output_kind"]


def output_kind(path: str | Path) -> str | None:
    """``"robustness"`` (a robustness output), ``"widths"`` (a run over hidden widths) or ``None`` (neither): by its
    table's files, else by its folders (``NEIGHBOUR/seed-S`` or ``width-W/seed-S`` runs: the table is what is missing).

    Examples:
        >>> import tempfile; folder = Path(tempfile.mkdtemp()); _ = (folder / "robustness.md").write_text("## Robustness")
        >>> output_kind(folder), output_kind(folder / "missing")
        ('robustness', None)
    """
    run_dir = Path(path)
    if (run_dir / "run.json").exists():
        return None
    if (run_dir / ROBUSTNESS).exists() or (run_dir / ROBUSTNESS_MD).exists():  # either file: the other may be what is missing
        return "robustness"
    if (run_dir / UNIVERSALITY).exists():
        return "widths"
    inside = [p for p in run_dir.iterdir() if p.is_dir() and seeds_within(p)] if run_dir.is_dir() else []
    if inside and all(re.fullmatch(r"width-\d+", p.name) for p in inside):
        return "widths"
    return "robustness" if inside and all("=" in p.name for p in inside) else None


KINDS = {  # an output over many runs: the files at its top, the reader of them, and what writes one
    "a robustness output": ((ROBUSTNESS, ROBUSTNESS_MD), "load_robustness", "`mechbridge robustness CASE --out DIR`"),
    "a run over hidden widths": ((UNIVERSALITY,), "load_universality", "case_studies.generality.universality.run_widths (Python)"),
    "a --seeds output": (REPORT_FILES, "load_seed_report", "`mechbridge run CASE --seeds 0-9 --out DIR`"),
}


def output_folder(path: str | Path, kind: str) -> Path:
    """``path`` as a folder of ``kind`` (a key of :data:`KINDS`); raises :class:`RunError` if it is not a folder, holds a
    single run, is an output of another kind, or holds neither its files nor its runs (a resume would not write them).

    Examples:
        >>> import tempfile; folder = Path(tempfile.mkdtemp()); _ = (folder / "robustness.json").write_text("{}")
        >>> output_folder(folder, "a robustness output") == folder
        True
        >>> output_folder(folder, "a run over hidden widths")
        Traceback (most recent call last):
        ...
        bridge.runs.errors.RunError: ... is a robustness output, not a run over hidden widths: case_studies.generality.load_robustness(...) reads it
    """
    folder = Path(path)
    if not folder.is_dir():
        raise RunError(f"{folder} is a file, not {kind}" if folder.exists() else f"{folder} does not exist")
    if (folder / "run.json").is_file():
        raise RunError(f"{folder} is one case study's output, not {kind}: bridge.load_run({str(folder)!r}) reads it, and its report.json")
    files, _, writer = KINDS[kind]
    if any((folder / f).exists() for f in files):
        return folder
    for other, (theirs, reader, _) in KINDS.items():
        if other != kind and any((folder / f).exists() for f in theirs):
            raise RunError(f"{folder} is {other}, not {kind}: case_studies.generality.{reader}({str(folder)!r}) reads it")
    runs = any((p / "run.json").is_file() for p in folder.glob("seed-*")) if kind == "a --seeds output" else output_kind(folder) == ("robustness" if kind == "a robustness output" else "widths")
    if not runs:  # not even its runs (seed-S, NEIGHBOUR/seed-S or width-W/seed-S): a resume would not write its files
        raise RunError(f"{folder / files[0]} does not exist: {folder} is not {kind} ({writer} writes one)")
    return folder
