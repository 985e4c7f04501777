"""A case-study output's report read back from disk, for a run that cannot be re-analysed.

A run that diverged has a final report (``invalid``, saying where): :func:`diverged_report`
reads it as a :class:`~bridge.report.BridgeReport`, so a resumed seed run gathers it as it was judged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def diverged_data(folder: str | Path) -> dict[str, Any] | None:
    """The stored ``report.json`` of a case-study output whose run diverged (its verdict is final), else ``None``
    (also for a report not on record in ``run.json`` or that differs from its record: those are rebuilt).

    Examples:
        >>> import tempfile; diverged_data(tempfile.mkdtemp()) is None   # no report: nothing stored to read
        True
    """
    from bridge.runs.run import load_run
    from bridge.runs.storage import CorruptFileError, read_json

    folder = Path(folder)
    run = load_run(folder) if (folder / "run.json").is_file() else None
    if run is not None and "report.json" not in (run.info.get("files") or {}):
        return None  # a report whose writing was cut short is rebuilt, not read
    if run is None and not (folder / "report.json").is_file():
        return None
    try:
        data = run.report if run is not None else read_json(folder / "report.json")
    except CorruptFileError:  # a damaged report is rebuilt, not read
        return None
    if not isinstance(data, dict) or not ("diverged" in data or (run is not None and run.status == "failed")):
        return None
    return data


def diverged_report(folder: str | Path) -> Any:
    """:func:`diverged_data` as a :class:`~bridge.report.BridgeReport` (rows, notes, settings and where it diverged),
    else ``None``.

    Examples:
        >>> diverged_report("runs/dl-seeds/seed-0").extra["diverged"]  # doctest: +SKIP
        {'run': 'main', 'step': 6}
    """
    from bridge.match import Check, Match
    from bridge.report import BridgeReport, stored_rows

    data = diverged_data(folder)
    if data is None:
        return None
    extra: dict[str, Any] = {k: data[k] for k in ("settings", "diverged") if k in data}
    return BridgeReport(data["case_study"], data["preset"], data["seed"], stored_rows(Match, data.get("matches", [])), stored_rows(Check, data.get("checks", [])), notes=list(data.get("notes", [])), extra=extra)


def __getattr__(name: str) -> Any:
    """``stored_rows``, now :func:`bridge.report.stored_rows`, still imported from here (loaded on first use: this
    module is read without numpy)."""
    if name == "stored_rows":
        from bridge.report import stored_rows

        return stored_rows
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
