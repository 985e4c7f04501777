"""What ``mechbridge report`` prints of an output that holds a table over many runs rather than one report: a
robustness output (its ``robustness.md``, checked against the ``robustness.json`` written with it) and a run over
hidden widths (a summary of its ``universality.json``), each refused in one line, naming the command that writes
it again, when it is missing, damaged or was left half-written.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

from bridge.cli.errors import CLIError

ROBUSTNESS, ROBUSTNESS_MD, UNIVERSALITY = "robustness.json", "robustness.md", "universality.json"


def table_kind(run_dir: Path) -> str | None:
    """``"robustness"`` (a robustness output), ``"widths"`` (a run over hidden widths) or ``None`` (neither): by its
    table's files, else by its folders (``NEIGHBOUR/seed-S`` or ``width-W/seed-S`` runs: the table is what is missing).

    Examples:
        >>> import tempfile; folder = Path(tempfile.mkdtemp()); _ = (folder / "robustness.md").write_text("## Robustness")
        >>> table_kind(folder), table_kind(folder / "missing")
        ('robustness', None)
    """
    if (run_dir / "run.json").exists():
        return None
    if (run_dir / ROBUSTNESS).exists() or (run_dir / ROBUSTNESS_MD).exists():  # either file: the other may be what is missing
        return "robustness"
    if (run_dir / UNIVERSALITY).exists():
        return "widths"
    inside = [p for p in run_dir.iterdir() if p.is_dir() and _seeds(p)] if run_dir.is_dir() else []
    if inside and all(re.fullmatch(r"width-\d+", p.name) for p in inside):
        return "widths"
    return "robustness" if inside and all("=" in p.name for p in inside) else None


def rebuild_refusal(run_dir: Path, kind: str) -> str:
    """Why ``report --rebuild`` does not rewrite the table of kind ``kind`` in ``run_dir``, and what does."""
    if kind == "robustness":
        return (f"{run_dir} is a robustness output, whose table --rebuild does not write: `{robustness_again(run_dir)}` writes it again from its runs, "
                f"and `mechbridge report {run_dir}/NEIGHBOUR/seed-S --rebuild` rebuilds one run's report")
    return (f"{run_dir} is a run over hidden widths, whose {UNIVERSALITY} --rebuild does not write: `{widths_again(run_dir)}` (Python) writes it again from its runs, "
            f"and `mechbridge report {run_dir}/width-W/seed-S --rebuild` rebuilds one run's report")


def robustness_report(run_dir: Path) -> tuple[str, bool]:
    """``run_dir/robustness.md`` without its stamp, and whether every run of the table in ``robustness.json`` passes.

    A markdown without a stamp (written before tables were stamped) is printed as it is, unless the JSON beside it
    records ``"markdown_stamped"``: then the markdown is not the one written with it.

    Raises:
        CLIError: either file missing, the JSON not a table with a verdict for every run, the markdown not text, or
            the markdown not written with the JSON beside it; the message names the command that writes both again.
    """
    from bridge.runs.checksums import unstamp

    js, md = run_dir / ROBUSTNESS, run_dir / ROBUSTNESS_MD
    for file in (js, md):
        if not file.is_file():
            raise CLIError(f"{file} is missing (its writer was killed before it, or it was moved): `{robustness_again(run_dir)}` writes both again")
    raw = js.read_bytes()
    try:
        table = json.loads(raw)
        runs = table.get("runs") if isinstance(table, dict) else None
        if not isinstance(runs, list) or not runs or not all(isinstance(r, dict) and isinstance(r.get("verdict"), str) for r in runs):
            raise ValueError("expected an object whose 'runs' list holds a verdict for every run")
    except ValueError as e:  # not JSON, not UTF-8, or not a table
        raise CLIError(f"{js} is damaged or not a robustness table ({e}): `{robustness_again(run_dir)}` writes both again") from None
    try:
        text = md.read_bytes().decode()
    except UnicodeDecodeError as e:
        raise CLIError(f"{md} is damaged (not UTF-8 text: {e}): `{robustness_again(run_dir)}` writes both again") from None
    text, agrees = unstamp(text, js.name, raw, required=table.get("markdown_stamped") is True)
    if agrees is False:
        raise CLIError(f"{md} was not written with the {js.name} beside it (its writer was killed between the two, or one was changed since): `{robustness_again(run_dir)}` writes both again")
    return text, all(r["verdict"] == "pass" for r in runs)


def widths_report(run_dir: Path) -> tuple[str, bool]:
    """A summary of ``run_dir/universality.json``: each hidden width's seed verdict, then the universality row; and
    whether the output passes (the row passes and so does every width's seed verdict).

    Raises:
        CLIError: the file is not JSON or not the record :func:`case_studies.generality.universality.run_widths`
            writes; the message names the call that writes it again.
    """
    js = run_dir / UNIVERSALITY
    if not js.is_file():
        raise CLIError(f"{js} is missing (its writer was killed before it, or it was moved): `{widths_again(run_dir)}` (Python) writes it")
    try:
        data = json.loads(js.read_bytes())
        seeds, widths, row = (data.get(k) for k in ("seeds", "widths", "universality")) if isinstance(data, dict) else (None, None, None)
        if not (isinstance(seeds, list) and isinstance(widths, dict) and widths and all(isinstance(v, str) for v in widths.values())
                and isinstance(row, dict) and isinstance(row.get("name"), str) and isinstance(row.get("passed"), bool)):
            raise ValueError("expected an object with 'seeds', each width's seed verdict under 'widths', and the 'universality' row")
    except ValueError as e:
        raise CLIError(f"{js} is damaged or not a record of a run over hidden widths ({e}): `{widths_again(run_dir)}` (Python) writes it again") from None
    order = sorted(widths, key=lambda w: (0, int(w)) if w.isdigit() else (1, w))
    value = row.get("value")
    lines = [
        f"## Universality over hidden widths {', '.join(order)} (seeds {', '.join(map(str, seeds))})",
        "",
        f"{sum(widths[w] == 'pass' for w in order)} of {len(order)} widths pass their seed reports; the universality row {'passes' if row['passed'] else 'fails'}.",
        "",
        "| hidden width | seed verdict |",
        "|---|---|",
        *(f"| {w} | {widths[w]} |" for w in order),
        "",
        f"**{'pass' if row['passed'] else 'fail'}**: {row['name']}: {f'{value:.5g}' if isinstance(value, float) else value} (target {row.get('target', '—')})",
        *(f"{key}: {row[key]}" for key in ("reason", "claim", "source") if row.get(key)),
        "",
        f"A width's seed report: `mechbridge report {run_dir}/width-W`.",
    ]
    return "\n".join(lines) + "\n", row["passed"] and all(widths[w] == "pass" for w in order)


def robustness_again(run_dir: Path) -> str:
    """The command that resumes the robustness output ``run_dir`` (writing its table again), as far as its
    ``robustness.json`` records it, else its runs (``CASE``, ``PRESET`` and ``...`` for what neither tells)."""
    table = _json(run_dir / ROBUSTNESS)
    folders = sorted(p for p in run_dir.iterdir() if p.is_dir() and "=" in p.name) if run_dir.is_dir() else []
    seeds = table.get("seeds") if isinstance(table.get("seeds"), list) else sorted({s for p in folders for s in _seeds(p)})
    info = {} if table.get("case_study") else next((_json(p / f"seed-{s}" / "run.json") for p in folders for s in _seeds(p)), {})
    preset = table.get("preset") or info.get("preset")
    count = len(table["neighbours"]) if isinstance(table.get("neighbours"), dict) and table["neighbours"] else len(folders) or "..."
    runs = table.get("runs") if isinstance(table.get("runs"), list) else []
    budget = table.get("budget") or ("..." if any(isinstance(r, dict) and r.get("extended_to") for r in runs) else None)
    words = ["mechbridge", "robustness", str(table.get("case_study") or info.get("case_study") or "CASE"), "--preset", str(preset) if preset and preset != "custom" else "PRESET"]
    words += ["--neighbours", str(count), "--seeds", ",".join(map(str, seeds)) or "...", "--draw-seed", str(table["draw_seed"]) if isinstance(table.get("draw_seed"), int) else "..."]
    words += [w for setting in (table.get("settings") if isinstance(table.get("settings"), list) else []) for w in ("--set", str(setting))]
    words += ["--budget", str(budget)] if budget is not None else []
    return shlex.join([*words, "--out", str(run_dir), "--resume"])


def widths_again(run_dir: Path) -> str:
    """The Python call that resumes the run over hidden widths ``run_dir`` (writing ``universality.json`` again), as
    far as it and its first seed run record it (``...`` for what they do not)."""
    data = _json(run_dir / UNIVERSALITY)
    widths = sorted((int(m[1]), p) for p in (run_dir.iterdir() if run_dir.is_dir() else []) if p.is_dir() and (m := re.fullmatch(r"width-(\d+)", p.name)))
    seeds = data.get("seeds") if isinstance(data.get("seeds"), list) else sorted({s for _, p in widths for s in _seeds(p)})
    info = next((_json(p / f"seed-{s}" / "run.json") for _, p in widths for s in _seeds(p)), {})
    settings = info.get("settings") if isinstance(info.get("settings"), list) else []
    if settings and str(settings[-1]).startswith("model.d_hidden="):
        settings = settings[:-1]  # the width's own setting, which run_widths adds
    preset = repr(info["preset"]) if isinstance(info.get("preset"), str) and info["preset"] != "custom" else "..."
    given = f", settings={[str(s) for s in settings]!r}" if settings else ""
    return f"from case_studies.generality.universality import run_widths; run_widths({str(run_dir)!r}, seeds={seeds or '...'}, preset={preset}{given}, resume=True)"


def _json(path: Path) -> dict[str, Any]:
    """The object in the JSON file ``path``, or ``{}`` if it is missing, damaged or not an object."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _seeds(folder: Path) -> list[int]:
    """The seeds ``S`` of the ``seed-S`` runs in ``folder``, in order."""
    from bridge.runs.run import runs_within

    return [int(m[1]) for name in runs_within(folder) if (m := re.fullmatch(r"seed-(\d+)", name))]
