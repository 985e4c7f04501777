"""A case study over seeds: one report per seed, and a seed report of every row's distribution.

``mechbridge run CASE --seeds 0-9 --out DIR`` trains and analyses each seed into
``DIR/seed-<S>`` (an ordinary case-study output) and writes ``DIR/seed_report.json``
and ``DIR/seed_report.md``: for every match and check, its values over seeds (mean,
standard deviation, range) and its pass fraction; the fraction of seeds whose verdict
is ``pass``; and the seed verdict, ``pass`` when that fraction reaches the stated
threshold (``CaseStudy.seed_pass_fraction``). A case study may add rows judged across
seeds (``CaseStudy.across_seeds``: "the same mechanism in every seed").

Examples:
    >>> parse_seeds("0-3,7")
    [0, 1, 2, 3, 7]
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.config import ConfigError
from bridge.report import _finite, _row, markdown_cell
from bridge.sweep.grid import check_seeds, parse_seeds
from case_studies.generality.resume import REPORT_FILES, SEED_REPORT
from case_studies.generality.stacking import seed_dir, stack_seed_runs

TIMELINE = "seed_timeline.png"  # in figures/
__all__ = ["SEED_REPORT", "SeedReport", "check_threshold", "in_every_seed", "parse_seeds", "row_value", "run_seeds", "seed_dir", "stack_seed_runs", "summarise"]


@dataclass
class SeedReport:
    """The rows of a case study over seeds, and the seed verdict.

    ``rows`` holds one entry per match and check name: ``role``, ``counted``,
    ``values`` (seed → the row's value: a match's relative error, a check's value),
    ``passed`` (seed → bool), ``mean``, ``std``, ``min``, ``max`` (over numeric
    values) and ``pass_fraction``. ``across_seeds`` holds rows judged on all seeds
    at once; they count toward the seed verdict as claims do.

    Examples:
        >>> report = SeedReport("toy", "quick", [0, 1], {0: "pass", 1: "fail"}, threshold=0.5)
        >>> report.pass_fraction, report.verdict
        (0.5, 'pass')
    """

    case_study: str
    preset: str
    seeds: list[int]
    verdicts: dict[int, str]
    threshold: float
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    across_seeds: list[Any] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)

    def __repr__(self) -> str:  # one line: the rows over seeds are in .rows, .table() and to_markdown()
        failed = {name: round(row["pass_fraction"], 2) for name, row in self.rows.items() if row.get("counted") and row["pass_fraction"] < 1}
        across = [r.name for r in self.across_seeds if r.counted and not r.passed]
        return (f"SeedReport({self.case_study!r}, {self.preset!r}, seeds={self.seeds!r}, verdict={self.verdict!r}, pass_fraction={self.pass_fraction:.2f}, "
                f"failed={failed!r}" + (f", failed_across_seeds={across!r})" if across else ")"))

    def _repr_markdown_(self) -> str:
        """What a notebook shows: :meth:`to_markdown` (``seed_report.md`` without its figure)."""
        return self.to_markdown()

    @property
    def pass_fraction(self) -> float:
        """Fraction of seeds whose own verdict is ``pass``."""
        return sum(v == "pass" for v in self.verdicts.values()) / len(self.verdicts)

    @property
    def verdict(self) -> str:
        """``pass`` when :attr:`pass_fraction` reaches the threshold and every across-seed claim passes."""
        across = all(r.passed for r in self.across_seeds if r.counted)
        return "pass" if self.pass_fraction >= self.threshold and across else "fail"

    def to_dict(self) -> dict[str, Any]:
        """The report as ``seed_report.json`` holds it (seeds as text keys, NaN and infinities as ``None``).

        Examples:
            >>> SeedReport("toy", "quick", [0, 1], {0: "pass", 1: "fail"}, threshold=0.5).to_dict()["verdicts"]
            {'0': 'pass', '1': 'fail'}
        """
        return _finite(
            {
                "case_study": self.case_study,
                "preset": self.preset,
                "seeds": self.seeds,
                "verdicts": {str(s): v for s, v in self.verdicts.items()},
                "pass_fraction": self.pass_fraction,
                "threshold": self.threshold,
                "verdict": self.verdict,
                "rows": {name: {key: ({str(s): v for s, v in val.items()} if key in ("values", "passed", "steps") else val) for key, val in row.items()} for name, row in self.rows.items()},
                "across_seeds": [_row(r) for r in self.across_seeds],
                "figures": list(self.figures),
                "markdown_stamped": True,  # seed_report.md ends with this file's SHA-256: one without it was cut short
            },
            f"seed report of {self.case_study} [{self.preset}]",
        )

    def table(self) -> Any:
        """Rows × seeds as one tidy pandas DataFrame (columns: :func:`case_studies.generality.seed_table.seed_table`)."""
        from case_studies.generality.seed_table import seed_table
        return seed_table(self)

    def to_markdown(self) -> str:
        """A human-readable summary (each seed's verdict, every row's values and pass fraction over seeds, the rows judged across seeds).

        Examples:
            >>> print(SeedReport("toy", "quick", [0, 1], {0: "pass", 1: "fail"}, threshold=0.5).to_markdown().splitlines()[0])
            # toy — preset quick, seeds 0–1: **PASS**
        """
        lines = [
            f"# {self.case_study} — preset {self.preset}, seeds {_span(self.seeds)}: **{self.verdict.upper()}**",
            "",
            f"{sum(v == 'pass' for v in self.verdicts.values())} of {len(self.seeds)} seeds pass "
            f"(fraction {self.pass_fraction:.2f}, threshold {self.threshold:.2f}).",
            "",
            "| seed | verdict |",
            "|---|---|",
            *[f"| {s} | {v} |" for s, v in self.verdicts.items()],
            "",
            "## Rows over seeds",
            "",
            "Mean, std, min and max are over seeds of a match's relative error (predicted vs observed step) and of a check's value.",
            "",
            "| row | role | mean | std | min | max | pass fraction |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, row in self.rows.items():
            stats = [_fmt(row[k]) for k in ("mean", "std", "min", "max")]
            lines.append(f"| {markdown_cell(name)} | {row['role']} | {' | '.join(stats)} | {row['pass_fraction']:.2f} |")
        if self.across_seeds:
            lines += ["", "## Across seeds", "", "| check | value | target | pass |", "|---|---|---|---|"]
            lines += [f"| {markdown_cell(r.name)} | {_fmt(r.value)} | {markdown_cell(r.target)} | {'✔' if r.passed else '✘'} |" for r in self.across_seeds]
        return "\n".join(lines) + "\n"

    def figure(self, path: str | Path) -> Path | None:
        """Draw every match's predicted, observed and mechanism steps over seeds (``None``: no match to draw)."""
        from bridge.plots import new_figure, plot_seed_timeline, save_figure

        rows = [
            {"label": name, **{k: [row["steps"][s][k] for s in sorted(row["steps"])] for k in ("predicted", "observed", "mechanism")}}
            for name, row in self.rows.items()
            if "steps" in row
        ]
        if not rows:
            return None
        fig, ax = new_figure(size=(7.0, 0.9 + 0.32 * len(rows)))
        plot_seed_timeline(ax, rows)
        ax.set_title(f"{self.case_study}: events over seeds {_span(self.seeds)} (mean ± s.d., dots: seeds)", fontsize=9, loc="right")
        return save_figure(fig, path)

    def write(self, out: str | Path) -> Path:
        """Write ``seed_report.json``, ``seed_report.md`` and ``figures/seed_timeline.png`` into ``out``; returns the JSON path.

        The markdown ends with the SHA-256 of the JSON written before it (:func:`bridge.runs.checksums.stamp`), so a
        pair left by a writer killed between the two files is told from a pair written together.
        """
        from bridge.runs.checksums import stamp
        from bridge.runs.storage import atomic_write_bytes, atomic_write_text, json_bytes

        out = Path(out)
        if self.figure(out / "figures" / TIMELINE) is not None:
            self.figures = [f"figures/{TIMELINE}"]
        data = json_bytes(self.to_dict())
        atomic_write_bytes(out / SEED_REPORT, data)
        atomic_write_text(out / "seed_report.md", stamp(self.to_markdown() + "".join(f"\n![seed timeline]({f})\n" for f in self.figures), SEED_REPORT, data))
        return out / SEED_REPORT


def row_value(row: Any) -> float | str | None:
    """The value a seed report gathers for a row: a match's relative error, a check's value.

    Examples:
        >>> from bridge.match import check
        >>> row_value(check("gap", 0.3, "< 1", True))
        0.3
    """
    return row.relative_error if hasattr(row, "relative_error") else row.value


def check_threshold(threshold: Any, case_study: str) -> float:
    """``threshold``, a fraction of seeds that must pass: a number from 0 to 1.

    Raises:
        ConfigError: naming the case study and the value (``80`` for 80 %, ``NaN``, ``True``).

    Examples:
        >>> check_threshold(0.8, "toy")
        0.8
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise ConfigError(f"the seed pass fraction of {case_study!r} must be a number from 0 to 1, got {threshold!r}")
    return threshold


def summarise(reports: Mapping[int, Any], case_study: str, preset: str, threshold: float, across_seeds: Sequence[Any] = ()) -> SeedReport:
    """The :class:`SeedReport` of per-seed :class:`~bridge.report.BridgeReport`s.

    Args:
        reports: seed → that seed's report.
        threshold: the fraction of seeds that must pass for the seed verdict to pass (0 to 1, :func:`check_threshold`).
        across_seeds: rows judged on all seeds at once (:class:`~bridge.match.Check`).

    Examples:
        >>> from bridge.match import check
        >>> from bridge.report import BridgeReport
        >>> reports = {s: BridgeReport("toy", "quick", s, checks=[check("gap", 0.1 * s, "< 0.15", 0.1 * s < 0.15)]) for s in range(3)}
        >>> sr = summarise(reports, "toy", "quick", threshold=0.5)
        >>> round(sr.pass_fraction, 3), sr.verdict, round(sr.rows["gap"]["mean"], 3)
        (0.667, 'pass', 0.1)
    """
    if not reports:
        raise ValueError("a seed report needs at least one seed")
    check_threshold(threshold, case_study)
    seeds = sorted(reports)
    rows: dict[str, dict[str, Any]] = {}
    for seed in seeds:
        for row in reports[seed].rows:
            entry = rows.setdefault(row.row_key, {"role": row.role, "counted": row.counted, "claim": row.claim, "source": row.source, "values": {}, "passed": {}})
            entry["values"][seed] = row_value(row)
            entry["passed"][seed] = bool(row.passed)
            if hasattr(row, "predicted_step"):
                entry.setdefault("steps", {})[seed] = {"predicted": row.predicted_step, "observed": row.observed_step, "mechanism": row.mechanism_step}
    for entry in rows.values():
        numbers = [float(v) for v in entry["values"].values() if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)]
        entry["mean"] = statistics.fmean(numbers) if numbers else None
        entry["std"] = statistics.stdev(numbers) if len(numbers) > 1 else None
        entry["min"] = min(numbers) if numbers else None
        entry["max"] = max(numbers) if numbers else None
        entry["pass_fraction"] = sum(entry["passed"].values()) / len(seeds)  # a seed without the row counts as failing it
    return SeedReport(case_study, preset, seeds, {s: reports[s].verdict for s in seeds}, threshold, rows, list(across_seeds))


def in_every_seed(report: SeedReport, names: Sequence[str]) -> list[Any]:
    """A check per row whose name contains one of ``names``: it must pass in every seed.

    A case study lists in ``CaseStudy.universal`` the rows that state a universal claim
    (the same mechanism in every seed). A named row that no seed reports fails.

    Examples:
        >>> from bridge.match import check
        >>> from bridge.report import BridgeReport
        >>> reports = {s: BridgeReport("toy", "quick", s, checks=[check("plateau at 2/eta", 1.0, "== 1", s != 2)]) for s in range(3)}
        >>> [(r.name, round(r.value, 3), r.passed) for r in in_every_seed(summarise(reports, "toy", "quick", 0.5), ["plateau"])]
        [('plateau at 2/eta: in every seed', 0.667, False)]
    """
    from bridge.match import check

    rows = []
    for name in names:
        found = [(row_name, row) for row_name, row in report.rows.items() if name in row_name]
        if not found:
            rows.append(check(f"{name}: in every seed", None, "== 1", False, claim="the row holds in every seed", reason="no seed reports this row"))
        for row_name, row in found:
            rows.append(check(f"{row_name}: in every seed", row["pass_fraction"], "== 1", row["pass_fraction"] == 1.0, claim=f"universal: {row['claim'] or row_name}", source=row["source"]))
    return rows


def run_seeds(
    name: str,
    preset: str | Any,
    out: str | Path,
    seeds: Sequence[int],
    *,
    device: str = "auto",
    progress: bool | None = None,
    resume: bool = False,
    settings: Sequence[str] = (),
    backend: str | Any = "local",
    backend_options: Mapping[str, Any] | None = None,
    stack: bool = True,
    loggers: Sequence[str] = (),
) -> SeedReport:
    """Run case study ``name`` for every seed into ``out/seed-<S>`` and write the seed report into ``out``.

    Every seed's configs are validated before any training. A seed whose output is
    complete is read, not retrained, when ``resume`` is set. ``backend`` and
    ``backend_options`` say where each seed's runs train (:func:`~case_studies.base.runner.run_case_study`).
    ``loggers`` (``"tensorboard"``, ``"wandb"``) stream every run's metrics into its own
    directory, stacked or not, as a single seed's study does.

    With ``stack`` (and the local backend), every run of the study whose configs differ
    only in the seed is trained for all new seeds at once (:func:`stack_seed_runs`);
    each seed's study then finds its runs done and analyses them.

    Raises:
        FileExistsError: ``out`` holds files and ``resume`` is false.
        ConfigError: no seeds, a seed that is not a non-negative integer or is given twice, a study whose
            ``seed_pass_fraction`` is not a number from 0 to 1, an unknown or
            uninstalled logger, or a run config is invalid (before any training).

    Examples:
        >>> report = run_seeds("deep-linear", "quick", "runs/dl-seeds", seeds=[0, 1, 2])  # doctest: +SKIP
        >>> report.pass_fraction  # doctest: +SKIP
        1.0
    """
    from bridge.overrides import apply
    from bridge.runs.lock import remove_stale_staging
    from bridge.runs.storage import stale_temporary_files
    from bridge.training.inputs import validate
    from bridge.training.loggers import check_logger_names
    from case_studies.base import get_case_study, resolve_preset
    from case_studies.base.inputs import check_settings_take_effect, new_output
    from case_studies.base.runner import rebuild_report, run_case_study
    from case_studies.generality.stored import diverged_report

    seeds = check_seeds(seeds)
    check_logger_names(loggers)
    study = get_case_study(name)
    check_threshold(study.seed_pass_fraction, name)
    preset_name, preset_obj = resolve_preset(study, preset)
    check_settings_take_effect(study, preset_obj, settings)
    changed = apply(preset_obj, settings)
    out = new_output(out, resume)
    if out.is_dir():
        remove_stale_staging(out)  # a seed's run killed while it was being created
    ours = r"seed-\d+|seed_report\.(json|md)|figures|\.seed_report\.(json|md)\.tmp-\d+"  # and the temporary file of a report being written
    foreign = sorted(p.name for p in out.iterdir() if not re.fullmatch(ours, p.name)) if out.is_dir() else []
    if foreign:
        named = next((f for f in foreign if re.fullmatch(r"seed_\d+", f)), None)  # bridge.train_seeds' name for a seed's run
        hint = f" ({named} is a run of bridge.train_seeds; a seeds output names seed S seed-S)" if named else ""
        raise FileExistsError(f"{out} holds files that are not part of a seeds output ({', '.join(foreign[:3])}){hint}; choose another --out")
    for seed in seeds:
        for cfg in study.runs(changed, seed).values():
            validate(cfg)
    for folder, names in ((out, REPORT_FILES), (out / "figures", [TIMELINE])):  # what a write killed before its rename left
        for tmp in stale_temporary_files(folder, names) if folder.is_dir() else []:
            tmp.unlink(missing_ok=True)
    fresh = [s for s in seeds if not seed_dir(out, s).exists()]
    if stack and backend == "local" and len(fresh) > 1:
        stack_seed_runs(study, changed, fresh, out, device=device, progress=progress, loggers=loggers)
    reports = {}
    for seed in seeds:
        folder = seed_dir(out, seed)
        reported = resume and (folder / "report.json").exists()
        if reported and (stored := diverged_report(folder)) is not None:  # a run that diverged: nothing to re-analyse
            reports[seed] = stored
        elif reported and preset_name != "custom":  # re-analysed from the files alone
            reports[seed] = rebuild_report(folder)
        else:  # a preset object is not on file: its study finds the finished runs and analyses them again
            reports[seed] = run_case_study(name, preset_obj if preset_name == "custom" else preset_name, folder, seed=seed, device=device, progress=progress, resume=resume or seed in fresh, settings=settings, backend=backend, backend_options=backend_options, loggers=loggers)
    across = study.across_seeds({s: seed_dir(out, s) for s in seeds}, changed)
    report = summarise(reports, study.name, preset_name, study.seed_pass_fraction, across)
    report.across_seeds += in_every_seed(report, study.universal)
    out.mkdir(parents=True, exist_ok=True)
    report.write(out)
    return report


def _span(seeds: Sequence[int]) -> str:
    return f"{seeds[0]}–{seeds[-1]}" if list(seeds) == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 1 else ", ".join(map(str, seeds))


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
