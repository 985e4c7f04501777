"""What ``mechbridge report`` prints of an output that holds a table over many runs rather than one report: a
robustness output (its ``robustness.md``, checked against the ``robustness.json`` written with it) and a run over
hidden widths (a summary of its ``universality.json``), each refused in one line, naming the command that writes
it again, when it is missing, damaged or was left half-written.
"""

from __future__ import annotations

from pathlib import Path

from case_studies.generality.resume import UNIVERSALITY, robustness_again, widths_again

__all__ = ["rebuild_refusal", "robustness_again", "robustness_report", "widths_again", "widths_report"]


def rebuild_refusal(run_dir: Path, kind: str) -> str:
    """Why ``report --rebuild`` does not rewrite the table of kind ``kind`` (``"robustness"`` or ``"widths"``) in
    ``run_dir``, and what does.

    Examples:
        >>> print(rebuild_refusal(Path("runs/dl-robust"), "robustness"))  # doctest: +ELLIPSIS
        runs/dl-robust is a robustness output, whose table --rebuild does not write: `mechbridge robustness CASE ... --out runs/dl-robust --resume` writes it again from its runs, ...
    """
    if kind == "robustness":
        return (f"{run_dir} is a robustness output, whose table --rebuild does not write: `{robustness_again(run_dir)}` writes it again from its runs, "
                f"and `mechbridge report {run_dir}/NEIGHBOUR/seed-S --rebuild` rebuilds one run's report")
    return (f"{run_dir} is a run over hidden widths, whose {UNIVERSALITY} --rebuild does not write: `{widths_again(run_dir)}` (Python) writes it again from its runs, "
            f"and `mechbridge report {run_dir}/width-W/seed-S --rebuild` rebuilds one run's report")


def robustness_report(run_dir: Path) -> tuple[str, bool]:
    """``run_dir/robustness.md`` without its stamp, and whether every run of the table in ``robustness.json`` passes,
    read and checked by :func:`case_studies.generality.tables.load_robustness`.

    Raises:
        CorruptFileError: either file missing, the JSON not a table with a verdict for every run, the markdown not text,
            or the markdown not written with the JSON beside it; the message names the command that writes both again.

    Examples:
        >>> import tempfile; out = Path(tempfile.mkdtemp()); _ = (out / "robustness.md").write_text("## Robustness\\n")
        >>> _ = (out / "robustness.json").write_text('{"runs": [{"verdict": "pass"}, {"verdict": "fail"}]}')
        >>> robustness_report(out)
        ('## Robustness\\n', False)
    """
    from case_studies.generality.tables import load_robustness

    table = load_robustness(run_dir)
    return table.markdown, table.passed


def widths_report(run_dir: Path) -> tuple[str, bool]:
    """A summary of ``run_dir/universality.json`` (read and checked by
    :func:`case_studies.generality.tables.load_universality`): each hidden width's seed verdict, then the universality
    row; and whether the output passes (the row passes and so does every width's seed verdict).

    Raises:
        CorruptFileError: the file is missing, not JSON or not the record
            :func:`case_studies.generality.universality.run_widths` writes; the message names the call that writes it again.

    Examples:
        >>> import json, tempfile; out = Path(tempfile.mkdtemp())
        >>> row = {"name": "same representation", "value": 0.99, "target": ">= 0.95", "passed": True}
        >>> _ = (out / "universality.json").write_text(json.dumps({"seeds": [0], "widths": {"64": "pass", "128": "pass"}, "universality": row}))
        >>> text, passed = widths_report(out); text.splitlines()[2], text.splitlines()[-3], passed
        ('2 of 2 widths pass their seed reports; the universality row passes.', '**pass**: same representation: 0.99 (target >= 0.95)', True)
    """
    from case_studies.generality.tables import load_universality

    record = load_universality(run_dir)
    widths, row = record.widths, record.data["universality"]  # widths in increasing order
    value = row.get("value")
    lines = [
        f"## Universality over hidden widths {', '.join(map(str, widths))} (seeds {', '.join(map(str, record.seeds))})",
        "",
        f"{sum(v == 'pass' for v in widths.values())} of {len(widths)} widths pass their seed reports; the universality row {'passes' if row['passed'] else 'fails'}.",
        "",
        "| hidden width | seed verdict |",
        "|---|---|",
        *(f"| {w} | {v} |" for w, v in widths.items()),
        "",
        f"**{'pass' if row['passed'] else 'fail'}**: {row['name']}: {f'{value:.5g}' if isinstance(value, float) else value} (target {row.get('target', '—')})",
        *(f"{key}: {row[key]}" for key in ("reason", "claim", "source") if row.get(key)),
        "",
        f"A width's seed report: `mechbridge report {run_dir}/width-W`.",
    ]
    return "\n".join(lines) + "\n", record.passed
