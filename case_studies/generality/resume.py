"""The command that writes an output over many runs again, spelled from what the output records: a ``--seeds``
output (its seed report), a robustness output (its table) and a run over hidden widths (its ``universality.json``).

The readers of these outputs (:mod:`case_studies.generality.load`) and ``mechbridge report`` name it when they
refuse a file that is missing, damaged or was left half-written.

Examples:
    >>> import tempfile; folder = tempfile.mkdtemp()
    >>> seeds_again(folder) == f"mechbridge run CASE --preset PRESET --seeds ... --out {folder} --resume"
    True
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

ROBUSTNESS, ROBUSTNESS_MD, UNIVERSALITY = "robustness.json", "robustness.md", "universality.json"
SEED_REPORT = "seed_report.json"
REPORT_FILES = (SEED_REPORT, "seed_report.md")  # a --seeds output's report over its seeds


def seeds_again(run_dir: str | Path) -> str:
    """The command that resumes the ``--seeds`` output ``run_dir`` (writing its seed report again), as far as its
    seed runs record it (``CASE``, ``PRESET`` and ``...`` for what they do not).

    Examples:
        >>> import tempfile; out = Path(tempfile.mkdtemp())
        >>> for s in (0, 1): (out / f"seed-{s}").mkdir(); _ = (out / f"seed-{s}" / "run.json").write_text('{"case_study": "deep-linear", "preset": "quick", "settings": ["train.lr=0.05"]}')
        >>> seeds_again(out).replace(str(out), "OUT")
        'mechbridge run deep-linear --preset quick --seeds 0,1 --set train.lr=0.05 --out OUT --resume'
    """
    run_dir = Path(run_dir)
    seeds = seeds_within(run_dir)
    info = _json(run_dir / f"seed-{seeds[0]}" / "run.json") if seeds else {}  # a damaged record: the command without what it would have told
    settings = _listed(info, "settings")
    words = ["mechbridge", "run", str(info.get("case_study") or "CASE"), "--preset", str(info.get("preset") or "PRESET"), "--seeds", ",".join(map(str, seeds)) or "..."]
    words += [w for setting in settings for w in ("--set", str(setting))] + ["--out", str(run_dir), "--resume"]
    return shlex.join(words)


def robustness_again(run_dir: str | Path) -> str:
    """The command that resumes the robustness output ``run_dir`` (writing its table again), as far as its
    ``robustness.json`` records it, else its runs (``CASE``, ``PRESET`` and ``...`` for what neither tells).

    Examples:
        >>> import tempfile; out = Path(tempfile.mkdtemp())
        >>> table = {"case_study": "deep-linear", "preset": "quick", "neighbours": {"train.lr=0.1": {}, "train.lr=0.2": {}}, "seeds": [0, 1], "draw_seed": 0}
        >>> _ = (out / ROBUSTNESS).write_text(json.dumps(table)); robustness_again(out).replace(str(out), "OUT")
        'mechbridge robustness deep-linear --preset quick --neighbours 2 --seeds 0,1 --draw-seed 0 --out OUT --resume'
    """
    run_dir = Path(run_dir)
    table = _json(run_dir / ROBUSTNESS)
    folders = sorted(p for p in run_dir.iterdir() if p.is_dir() and "=" in p.name) if run_dir.is_dir() else []
    listed = table.get("seeds")
    seeds = listed if isinstance(listed, list) else sorted({s for p in folders for s in seeds_within(p)})
    info = {} if table.get("case_study") else next((_json(p / f"seed-{s}" / "run.json") for p in folders for s in seeds_within(p)), {})
    preset = table.get("preset") or info.get("preset")
    count = len(table["neighbours"]) if isinstance(table.get("neighbours"), dict) and table["neighbours"] else len(folders) or "..."
    runs = _listed(table, "runs")
    budget = table.get("budget") or ("..." if any(isinstance(r, dict) and r.get("extended_to") for r in runs) else None)
    words = ["mechbridge", "robustness", str(table.get("case_study") or info.get("case_study") or "CASE"), "--preset", str(preset) if preset and preset != "custom" else "PRESET"]
    words += ["--neighbours", str(count), "--seeds", ",".join(map(str, seeds)) or "...", "--draw-seed", str(table["draw_seed"]) if isinstance(table.get("draw_seed"), int) else "..."]
    words += [w for setting in _listed(table, "settings") for w in ("--set", str(setting))]
    words += ["--budget", str(budget)] if budget is not None else []
    return shlex.join([*words, "--out", str(run_dir), "--resume"])


def widths_again(run_dir: str | Path) -> str:
    """The Python call that resumes the run over hidden widths ``run_dir`` (writing ``universality.json`` again), as
    far as it and its first seed run record it (``...`` for what they do not).

    Examples:
        >>> import tempfile; out = Path(tempfile.mkdtemp()); (out / "width-64" / "seed-0").mkdir(parents=True)
        >>> _ = (out / "width-64" / "seed-0" / "run.json").write_text('{"preset": "quick", "settings": ["train.steps=500", "model.d_hidden=64"]}')
        >>> widths_again(out).replace(str(out), "OUT")
        "from case_studies.generality.universality import run_widths; run_widths('OUT', seeds=[0], preset='quick', settings=['train.steps=500'], resume=True)"
    """
    run_dir = Path(run_dir)
    data = _json(run_dir / UNIVERSALITY)
    widths = sorted((int(m[1]), p) for p in (run_dir.iterdir() if run_dir.is_dir() else []) if p.is_dir() and (m := re.fullmatch(r"width-(\d+)", p.name)))
    listed = data.get("seeds")
    seeds = listed if isinstance(listed, list) else sorted({s for _, p in widths for s in seeds_within(p)})
    info = next((_json(p / f"seed-{s}" / "run.json") for _, p in widths for s in seeds_within(p)), {})
    settings = _listed(info, "settings")
    if settings and str(settings[-1]).startswith("model.d_hidden="):
        settings = settings[:-1]  # the width's own setting, which run_widths adds
    preset = repr(info["preset"]) if isinstance(info.get("preset"), str) and info["preset"] != "custom" else "..."
    given = f", settings={[str(s) for s in settings]!r}" if settings else ""
    return f"from case_studies.generality.universality import run_widths; run_widths({str(run_dir)!r}, seeds={seeds or '...'}, preset={preset}{given}, resume=True)"


def _listed(record: dict[str, Any], key: str) -> list[Any]:
    """``record[key]`` when it is a list, else ``[]`` (missing, or not what a finished output writes there)."""
    value = record.get(key)
    return value if isinstance(value, list) else []


def _json(path: Path) -> dict[str, Any]:
    """The object in the JSON file ``path``, or ``{}`` if it is missing, damaged or not an object."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def seeds_within(folder: str | Path) -> list[int]:
    """The seeds ``S`` of the ``seed-S`` runs in ``folder``, in order.

    Examples:
        >>> import tempfile; folder = Path(tempfile.mkdtemp())
        >>> for name in ("seed-10", "seed-2", "seed_1"): (folder / name).mkdir(); _ = (folder / name / "run.json").write_text("{}")
        >>> seeds_within(folder)
        [2, 10]
    """
    from bridge.runs.run_json import runs_within

    return [int(m[1]) for name in runs_within(folder) if (m := re.fullmatch(r"seed-(\d+)", name))]
