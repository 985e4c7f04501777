"""A seed report's rows over its seeds as one tidy table: :func:`seed_table` (``SeedReport.table()``)."""

from __future__ import annotations

from typing import Any

COLUMNS = ("row", "seed", "value", "passed", "reported", "role", "counted", "predicted_step", "observed_step", "mechanism_step")


def seed_table(report: Any) -> Any:
    """The rows of a :class:`~case_studies.generality.seeds.SeedReport` over its seeds, tidy: one line per row and seed.

    Returns:
        A pandas DataFrame, ``len(rows) × len(seeds)`` lines, rows in the report's order and seeds in order, with
        columns ``row`` (its name, or key), ``seed``, ``value`` (a match's relative error, a check's value; ``None``
        where the seed does not report the row), ``passed`` (bool; ``False`` where not reported, as the pass
        fraction counts it), ``reported`` (bool), ``role``, ``counted`` and, for a match, ``predicted_step``,
        ``observed_step`` and ``mechanism_step`` (``None`` for a check). ``table.groupby("row", sort=False).passed.mean()``
        is each row's ``pass_fraction``; the across-seed rows are ``report.across_seeds``.

    Examples:
        >>> from bridge.match import check
        >>> from bridge.report import BridgeReport
        >>> from case_studies.generality.seeds import summarise
        >>> reports = {s: BridgeReport("toy", "quick", s, checks=[check("gap", 0.1 * s, "< 0.15", s < 2)]) for s in range(3)}
        >>> seed_table(summarise(reports, "toy", "quick", 0.5)).groupby("row").passed.mean().round(3).to_dict()
        {'gap': 0.667}
    """
    import pandas as pd

    lines = []
    for name, row in report.rows.items():
        for seed in report.seeds:
            steps = (row.get("steps") or {}).get(seed) or {}
            reported = seed in row["passed"]
            lines.append((name, seed, row["values"].get(seed), bool(row["passed"].get(seed, False)), reported, row.get("role"), row.get("counted"),
                          *(steps.get(k) for k in ("predicted", "observed", "mechanism"))))
    return pd.DataFrame(lines, columns=list(COLUMNS))


__all__ = ["COLUMNS", "seed_table"]
