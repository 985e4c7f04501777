"""The bridge report: matches and checks of a run, written as ``report.json`` and ``report.md``.

The JSON schema is a contract (docs/concepts.md): fields may be added, never renamed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bridge.match import Check, Match
from bridge.runs.storage import atomic_write_json, atomic_write_text

NOT_REACHED = "not reached within"
T = TypeVar("T")


def not_reached(steps: float, why: str = "") -> str:
    """The reason of a precondition whose phenomenon did not appear within the run's ``steps``.

    A report with such a row says "not reached" rather than "fail": more steps may show it
    (:attr:`BridgeReport.not_reached`, and ``mechbridge run --budget``).

    Examples:
        >>> not_reached(2500, "test accuracy ends at 4.0%")
        'not reached within 2500 steps: test accuracy ends at 4.0%'
    """
    return f"{NOT_REACHED} {int(steps)} steps" + (f": {why}" if why else "")


def says_not_reached(role: str, passed: bool, reason: str) -> bool:
    """Whether a row (its role, verdict and reason, as in ``report.json``) is a precondition that :func:`not_reached` failed.

    Examples:
        >>> says_not_reached("precondition", False, not_reached(500)), says_not_reached("claim", False, not_reached(500))
        (True, False)
    """
    return role == "precondition" and not passed and str(reason).startswith(NOT_REACHED)


@dataclass
class BridgeReport:
    """All matches and checks of a case-study run, and its verdict.

    ``events`` (detected events and stages, written to ``events.json``) and
    ``files`` (file name → JSON content, e.g. circuit graphs) are written beside
    the report by the case-study runner; they are not part of ``report.json``.
    ``observations`` is what the analysis measured, kept in memory for the figures
    (:meth:`observed`); it is written nowhere, so a report read back from disk has none.

    Examples:
        >>> from bridge.match import check
        >>> rows = [check("loss falls", 0.01, "<= 0.05", True), check("modes in order", 0.0, "== 1", False)]
        >>> report = BridgeReport("deep_linear", "quick", seed=0, checks=rows)
        >>> report.verdict, report.failed_claims
        ('partial', ['modes in order'])
    """

    case_study: str
    preset: str
    seed: int
    matches: list[Match] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    events: list[Any] = field(default_factory=list)
    files: dict[str, Any] = field(default_factory=dict)
    observations: Any = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:  # one line: the rows are in .matches and .checks, the tables in to_markdown()
        return _summary("BridgeReport", self.case_study, self.preset, self.seed, self.verdict, self.failed_claims, self.failed_preconditions)

    def _repr_markdown_(self) -> str:
        """What a notebook shows: :meth:`to_markdown`, figures named rather than drawn (their paths are the run's)."""
        return self.to_markdown(images=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BridgeReport:
        """The report a ``report.json`` holds (:meth:`to_dict`), its rows rebuilt; fields it adds go to :attr:`extra`.

        Raises:
            TypeError: a row without a field its kind requires, or not an object.
            KeyError: ``data`` has no ``case_study``, ``preset`` or ``seed``.

        Examples:
            >>> from bridge.match import check
            >>> report = BridgeReport("toy", "quick", 0, checks=[check("gap", 2.0, "< 1", False)], extra={"lr": 0.1})
            >>> again = BridgeReport.from_dict(report.to_dict())
            >>> again.verdict, again.failed_claims, again.extra, again == report
            ('fail', ['gap'], {'lr': 0.1}, True)
        """
        own = ("case_study", "preset", "seed", "matches", "checks", "verdict", "failed_claims", "failed_preconditions", "figures", "notes")
        extra = {k: v for k, v in data.items() if k not in own}
        return cls(data["case_study"], data["preset"], data["seed"], stored_rows(Match, data.get("matches", [])), stored_rows(Check, data.get("checks", [])),
                   list(data.get("figures", [])), list(data.get("notes", [])), extra)

    def observed(self, measure: Callable[[], T]) -> T:
        """The analysis's :attr:`observations` when it kept them, else ``measure()`` (a report read back from disk).

        A case study's ``analyse`` keeps what it measured (``report.observations = obs``) and its
        ``figures`` draws from ``report.observed(lambda: observe(runs))``: the measurement runs once.

        Examples:
            >>> BridgeReport("toy", "quick", 0, observations={"mse": 0.1}).observed(lambda: {"mse": 0.2})
            {'mse': 0.1}
            >>> BridgeReport("toy", "quick", 0).observed(lambda: {"mse": 0.2})
            {'mse': 0.2}
        """
        return self.observations if self.observations is not None else measure()

    @property
    def rows(self) -> list[Match | Check]:
        """Matches then checks."""
        return [*self.matches, *self.checks]

    @property
    def failed_preconditions(self) -> list[str]:
        """Names of the preconditions that failed (any makes the verdict ``"invalid"``)."""
        return [r.name for r in self.rows if r.role == "precondition" and not r.passed]

    @property
    def failed_claims(self) -> list[str]:
        """Names of the counted rows that failed."""
        return [r.name for r in self.rows if r.counted and not r.passed]

    @property
    def not_reached(self) -> bool:
        """Whether a failed precondition says its phenomenon was not reached within the training steps."""
        return any(says_not_reached(r.role, r.passed, r.reason) for r in self.rows)

    @property
    def verdict(self) -> str:
        """The verdict over counted rows.

        ``"invalid"`` when a precondition failed or no claim is counted; otherwise ``"pass"`` when
        every counted row passed, ``"fail"`` when none did, and ``"partial"`` in between
        (:attr:`failed_claims` names the rows that failed).
        """
        counted = [r.passed for r in self.rows if r.counted]
        if self.failed_preconditions or not counted:
            return "invalid"
        if all(counted):
            return "pass"
        return "partial" if any(counted) else "fail"

    def to_dict(self) -> dict[str, Any]:
        """The report as ``report.json`` holds it (standard JSON: NaN and infinities as ``None``, arrays and
        tensors as lists); refuses two rows with one key (see :meth:`check_keys`) and an ``extra`` field named
        as one of the report's own, which would replace it (a ``"verdict"`` its rows do not give).

        A table's keys are kept here as given; JSON writes a number, ``True``, ``False`` or ``None`` key as
        its text (``{3: 0.5}`` reads back from ``report.json`` as ``{"3": 0.5}``). Two keys of one table
        with the same text (``1.0`` and ``"1.0"``) are refused, as is a value JSON cannot hold (a set, a
        dataclass, a fraction): both errors name the field's path.

        Examples:
            >>> BridgeReport("toy", "quick", 0, extra={"verdict": "pass"}).to_dict()
            Traceback (most recent call last):
            ...
            ValueError: report of toy [quick, seed 0] has extra fields named as its own ['verdict']: give them other names
            >>> BridgeReport("toy", "quick", 0, extra={"steps": {1: 10.0, "1": 12.0}}).to_dict()
            Traceback (most recent call last):
            ...
            ValueError: report of toy [quick, seed 0]: steps has the keys 1 and '1', both written as "1" in JSON: give them distinct keys
            >>> BridgeReport("toy", "quick", 0, extra={"seen": [{"k": {2, 3}}]}).to_dict()
            Traceback (most recent call last):
            ...
            TypeError: report of toy [quick, seed 0]: seen[0].k is a set, which JSON cannot hold: give a list, number, text or table
        """
        self.check_keys()
        own = {
            "case_study": self.case_study,
            "preset": self.preset,
            "seed": self.seed,
            "matches": [_row(m) for m in self.matches],
            "checks": [_row(c) for c in self.checks],
            "verdict": self.verdict,
            "failed_claims": self.failed_claims,
            "failed_preconditions": self.failed_preconditions,
            "figures": list(self.figures),
            "notes": list(self.notes),
        }
        if clash := sorted(set(own) & set(self.extra)):
            raise ValueError(f"report of {self.case_study} [{self.preset}, seed {self.seed}] has extra fields named as its own {clash}: give them other names")
        return _finite({**own, **self.extra}, f"report of {self.case_study} [{self.preset}, seed {self.seed}]")

    def check_keys(self) -> None:
        """Refuse two rows that are the same row by their key (:attr:`~bridge.match.Check.row_key`).

        Seed reports and robustness tables join a row across runs by its key: with two of them, one
        run's result would stand for both.

        Examples:
            >>> from bridge.match import check
            >>> BridgeReport("toy", "quick", 0, checks=[check("gap", 0.1, "< 1", True), check("gap", 2.0, "< 1", False)]).check_keys()
            Traceback (most recent call last):
            ...
            ValueError: report of toy [quick, seed 0] has 2 rows with the key 'gap' (rows 1 'gap' and 2 'gap'): give each row its own name or key
        """
        where: dict[str, list[tuple[int, str]]] = {}
        for i, row in enumerate(self.rows, 1):
            where.setdefault(row.row_key, []).append((i, row.name))
        twice = next(((k, rows) for k, rows in where.items() if len(rows) > 1), None)
        if twice is not None:
            key, rows = twice
            named = [f"{i} {name!r}" for i, name in rows]
            places = ", ".join(named[:-1]) + f" and {named[-1]}"
            raise ValueError(f"report of {self.case_study} [{self.preset}, seed {self.seed}] has {len(rows)} rows with the key {key!r} (rows {places}): give each row its own name or key")

    def to_markdown(self, images: bool = True) -> str:
        """A human-readable summary (tables of matches and checks, figures, notes), as ``report.md`` holds it.

        ``images=False`` names the figures as paths instead of drawing them (a notebook, whose folder is not the run's).

        Examples:
            >>> from bridge.match import check
            >>> rows = [check("loss falls", 0.01, "<= 0.05", True), check("modes in order", 0.0, "== 1", False)]
            >>> print(BridgeReport("deep_linear", "quick", 0, checks=rows).to_markdown().splitlines()[0])
            # deep_linear — preset quick, seed 0: **PARTIAL**
        """
        lines = [f"# {self.case_study} — preset {self.preset}, seed {self.seed}: **{self.verdict.upper()}**", ""]
        if self.failed_preconditions:
            lines += [f"Invalid: preconditions failed: {', '.join(self.failed_preconditions)}.", ""]
        if self.verdict == "partial":
            lines += [f"Claims that failed: {', '.join(self.failed_claims)}.", ""]
        for title, roles in (("Claims", ("claim",)), ("Preconditions and information (not counted)", ("precondition", "info"))):
            matches = [m for m in self.matches if m.role in roles]
            checks = [c for c in self.checks if c.role in roles]
            if not matches and not checks:
                continue
            lines += [f"## {title}", ""]
            if matches:
                lines += ["| prediction | predicted | dynamics event | observed | mechanism | at | rel. error | tol. | pass | source |", "|---|---|---|---|---|---|---|---|---|---|"]
                for m in matches:
                    lines.append(
                        f"| {markdown_cell(m.prediction)} | {_fmt(m.predicted_step)} | {markdown_cell(m.dynamics_event)} | {_fmt(m.observed_step)} | {markdown_cell(m.mechanism or '—')} | "
                        f"{_fmt(m.mechanism_step)} | {_fmt(m.relative_error, 3)} | {'—' if m.tolerance is None else f'{m.tolerance:g}'} | {_mark(m)} | {markdown_cell(m.source) or '—'} |"
                    )
                lines.append("")
            if checks:
                lines += ["| check | value | target | pass | source |", "|---|---|---|---|---|"]
                lines += [f"| {markdown_cell(c.name)} | {_fmt(c.value, 4)} | {markdown_cell(c.target)} | {_mark(c)} | {markdown_cell(c.source) or '—'} |" for c in checks]
                lines.append("")
        if self.figures:
            lines += ["## Figures", ""] + [f"![{Path(f).stem}]({f})" if images else f"- `{f}`" for f in self.figures] + [""]
        if self.notes:
            lines += ["## Notes", ""] + [f"- {n}" for n in self.notes] + [""]
        return "\n".join(lines)

    def write(self, run_dir: str | Path) -> Path:
        """Write ``report.json`` and ``report.md`` into ``run_dir`` atomically; returns the JSON path.

        In a case study's output directory, ``run.json`` records these files with the rest of the
        report's set once all are written (``mechbridge run`` and ``mechbridge report --rebuild``
        do both); written alone over a recorded report, they are refused by readers until it is rebuilt.
        """
        run_dir = Path(run_dir)
        atomic_write_json(run_dir / "report.json", self.to_dict())
        atomic_write_text(run_dir / "report.md", self.to_markdown())
        return run_dir / "report.json"


class ReportJSON(dict[str, Any]):
    """A stored ``report.json`` (what :attr:`bridge.runs.run.Run.report` returns): a dict, indexed as one
    (``report["verdict"]``), that a notebook shows as the report's tables (:meth:`BridgeReport.to_markdown`) and
    IPython as one line; ``print(report)`` shows every field.

    Examples:
        >>> from bridge.match import check
        >>> stored = ReportJSON(BridgeReport("toy", "quick", 0, checks=[check("gap", 2.0, "< 1", False)]).to_dict())
        >>> stored["verdict"], stored._repr_markdown_().splitlines()[0]
        ('fail', '# toy — preset quick, seed 0: **FAIL**')
    """

    def _repr_markdown_(self) -> str | None:
        """The report's markdown, or ``None`` (IPython then shows the text) for an object that is not a whole report
        (:meth:`BridgeReport.from_dict` cannot read it); an error drawing a whole report's tables is raised, not hidden."""
        try:
            report = BridgeReport.from_dict(self)
        except (KeyError, TypeError, ValueError):
            return None
        return report.to_markdown(images=False)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """One line in IPython (:func:`repr` stays the dict's)."""
        get = self.get
        printer.text(_summary("ReportJSON", get("case_study"), get("preset"), get("seed"), get("verdict"), get("failed_claims") or [], get("failed_preconditions") or []))


def _summary(kind: str, case_study: Any, preset: Any, seed: Any, verdict: Any, failed: list[str], preconditions: list[str]) -> str:
    """A report as one line: what it is of, its verdict and the rows that failed."""
    missing = f", failed_preconditions={list(preconditions)!r}" if preconditions else ""
    return f"{kind}({case_study!r}, {preset!r}, seed={seed!r}, verdict={verdict!r}, failed={list(failed)!r}{missing})"


def stored_rows(kind: type, stored: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Rows of ``kind`` (:class:`~bridge.match.Match` or :class:`~bridge.match.Check`) from their JSON (fields it
    does not have, such as ``counted``, left out; ``depends_on`` a tuple again).

    Raises:
        TypeError: a row without a field ``kind`` requires, or not an object.

    Examples:
        >>> stored_rows(Check, [{"name": "gap", "value": 0.3, "target": "< 1", "passed": True, "counted": True, "depends_on": ["a"]}])
        [Check(name='gap', value=0.3, target='< 1', passed=True, role='claim', claim='', source='', depends_on=('a',), reason='', key='')]
    """
    import dataclasses

    return [kind(**{f.name: tuple(r[f.name]) if f.name == "depends_on" else r[f.name] for f in dataclasses.fields(kind) if f.name in r}) for r in stored]


def _row(row: Match | Check) -> dict[str, Any]:
    """A row as JSON: its fields, ``counted``, and ``depends_on`` as a list."""
    out = asdict(row)
    out["depends_on"] = list(row.depends_on)
    out["counted"] = row.counted
    return out


def _mark(row: Match | Check) -> str:
    mark = "✔" if row.passed else "✘"
    if row.role == "info":
        mark = "·"
    return f"{mark} ({markdown_cell(row.reason)})" if row.reason and not row.passed else mark


def markdown_cell(text: Any) -> str:
    """``text`` as one cell of a markdown table: a ``|`` inside it (``|u_obs − u_theory|``) is escaped, not a column break.

    Examples:
        >>> markdown_cell("max |final strength / s − 1|")
        'max \\\\|final strength / s − 1\\\\|'
    """
    return str(text).replace("|", "\\|")


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def _key_text(key: Any, where: str) -> str:
    """The text JSON writes for the table key ``key`` (``json.dumps`` turns ``1.0`` into ``"1.0"``, ``True`` into ``"true"``)."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    if isinstance(key, int):
        return int.__repr__(key)
    if isinstance(key, float):
        return float.__repr__(key) if math.isfinite(key) else "NaN" if key != key else "Infinity" if key > 0 else "-Infinity"
    raise TypeError(f"{where} has the key {key!r} ({type(key).__name__}): a JSON table's keys are text, numbers, true, false or null")


def _finite(obj: Any, report: str = "the report", where: str = "") -> Any:
    """Replace NaN/inf by ``None`` so the JSON is standard (also in numpy and torch values, made lists or numbers first);
    refuse what JSON cannot hold or would merge, naming ``where`` (the field's path) in ``report``."""
    if hasattr(obj, "tolist") and not isinstance(obj, str | bytes):
        obj = obj.tolist()
    elif hasattr(obj, "item") and not isinstance(obj, dict):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        texts: dict[str, Any] = {}
        for k in obj:
            text = _key_text(k, f"{report}: {where or 'the report'}")
            if text in texts:
                raise ValueError(f"{report}: {where or 'the report'} has the keys {texts[text]!r} and {k!r}, both written as {json.dumps(text)} in JSON: give them distinct keys")
            texts[text] = k
        return {k: _finite(v, report, f"{where}.{k}" if where else str(k)) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v, report, f"{where}[{i}]") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, str | int | float):
        return obj
    raise TypeError(f"{report}: {where} is a {type(obj).__name__}, which JSON cannot hold: give a list, number, text or table")
