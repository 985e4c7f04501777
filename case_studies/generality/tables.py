"""Tables over many runs read back in a notebook, checked as ``mechbridge report`` checks them: a robustness output
(:func:`load_robustness`: ``robustness.json`` and the ``robustness.md`` stamped with its SHA-256) and a run over
hidden widths (:func:`load_universality`: ``universality.json``). A file that is missing, damaged or was left
half-written is refused, naming it and what writes it again.

Examples:
    >>> import tempfile
    >>> from bridge.match import check
    >>> from bridge.report import BridgeReport
    >>> from bridge.runs.checksums import stamp
    >>> from bridge.runs.storage import json_bytes
    >>> from case_studies.generality.robustness import summarise, to_markdown
    >>> reports = {s: BridgeReport("toy", "quick", s, checks=[check("a", 1.0, "== 1", s == 0)]) for s in (0, 1)}
    >>> table = summarise({"train.lr=0.1": reports}, "toy", "quick") | {"markdown_stamped": True}
    >>> out = Path(tempfile.mkdtemp()); data = json_bytes(table)
    >>> _ = (out / "robustness.json").write_bytes(data); _ = (out / "robustness.md").write_text(stamp(to_markdown(table), "robustness.json", data))
    >>> robust = load_robustness(out)
    >>> robust.passed, robust.data["pass_fraction"]
    (False, 0.5)
    >>> robust.table()[["neighbour", "seed", "verdict", "failed_claims"]].values.tolist()
    [['train.lr=0.1', 0, 'pass', ()], ['train.lr=0.1', 1, 'fail', ('a',)]]
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.report import markdown_cell
from bridge.runs.errors import CorruptFileError
from case_studies.generality.kinds import output_folder, output_kind
from case_studies.generality.resume import ROBUSTNESS, ROBUSTNESS_MD, UNIVERSALITY, robustness_again, widths_again

if TYPE_CHECKING:
    import pandas as pd

    from bridge.match import Check
    from bridge.runs.run import Run
    from case_studies.generality.seeds import SeedReport

RUN_COLUMNS = ("neighbour", "seed", "verdict", "failed_claims", "failed_preconditions", "not_reached", "extended_to", "error")
__all__ = ["RobustnessJSON", "RobustnessTable", "WidthsRecord", "load_robustness", "load_universality", "output_kind", "to_markdown"]


@dataclass(frozen=True)
class RobustnessTable:
    """A robustness output read back: ``data`` is ``robustness.json`` as written (the dict
    :func:`~case_studies.generality.robustness.run_robustness` returned), ``markdown`` is ``robustness.md`` without
    its stamp, ``path`` the output.

    Examples:
        >>> RobustnessTable(Path("r"), {"runs": [{"verdict": "pass"}, {"verdict": "partial"}]}, "").passed
        False
    """

    path: Path
    data: dict[str, Any]
    markdown: str

    def __repr__(self) -> str:  # one line: the runs are in .table(), the rows in .rows(), the tables in .markdown
        return _robustness_line("RobustnessTable", self.data, self.path)

    def _repr_markdown_(self) -> str:
        """What a notebook shows: ``robustness.md`` (:attr:`markdown`)."""
        return self.markdown

    @property
    def passed(self) -> bool:
        """Whether every run of the table passes (as ``mechbridge report`` exits 0)."""
        return all(r["verdict"] == "pass" for r in self.data["runs"])

    def table(self) -> pd.DataFrame:
        """The runs, one line each in the table's order: a pandas DataFrame with columns ``neighbour`` (its settings,
        the folder's name), ``seed``, ``verdict``, ``failed_claims`` and ``failed_preconditions`` (tuples of row
        names), ``not_reached`` (bool: the phenomenon did not appear within the run's steps), ``extended_to`` (the
        steps a budget trained it to; nullable integer) and ``error`` (the error of a run that raised, else ``None``).
        ``(table.verdict == "pass").mean()`` is ``data["pass_fraction"]``.
        """
        import pandas as pd

        runs = self.data["runs"]
        frame = pd.DataFrame([[r.get(c) for c in RUN_COLUMNS] for r in runs], columns=list(RUN_COLUMNS))
        for column in ("failed_claims", "failed_preconditions"):
            frame[column] = [tuple(r.get(column) or ()) for r in runs]
        frame["not_reached"] = [bool(r.get("not_reached")) for r in runs]
        frame["extended_to"] = pd.array([r.get("extended_to") for r in runs], dtype="Int64")
        return frame

    def rows(self) -> pd.DataFrame:
        """Every row's pass fraction over the runs that report it: a pandas DataFrame with columns ``row``,
        ``pass_fraction`` and ``runs`` (how many runs report it), in the table's order."""
        import pandas as pd

        rows = self.data.get("rows") or {}
        return pd.DataFrame([(name, row.get("pass_fraction"), row.get("runs")) for name, row in rows.items()], columns=["row", "pass_fraction", "runs"])

    def run(self, neighbour: str, seed: int) -> Run:
        """The main run of ``neighbour`` (its ``neighbour`` column) and ``seed`` (:func:`bridge.load_run`)."""
        from bridge.runs.run import load_run

        return load_run(self.path / neighbour / f"seed-{seed}")


def to_markdown(table: Mapping[str, Any]) -> str:
    """The robustness table (:func:`summarise`) as a page section.

    Examples:
        >>> from bridge.match import check; from bridge.report import BridgeReport
        >>> from case_studies.generality.robustness import summarise
        >>> table = summarise({"lr=0.1": {0: BridgeReport("toy", "quick", 0, checks=[check("a", 1.0, "== 1", True)])}}, "toy", "quick")
        >>> lines = to_markdown(table).splitlines(); lines[0], lines[6], lines[-1]
        ('## Robustness: toy around preset quick', '| lr=0.1 | 0 | pass | — |', '| a | 1.00 | 1 |')
    """
    lines = [
        f"## Robustness: {table['case_study']} around preset {table['preset']}" + (f" with {', '.join(table['settings'])}" if table.get("settings") else ""),
        "",
        f"{sum(r['verdict'] == 'pass' for r in table['runs'])} of {len(table['runs'])} runs pass (fraction {table['pass_fraction']:.2f}); "
        f"in {sum(bool(r.get('not_reached')) for r in table['runs'])} the phenomenon was not reached within the training steps.",
        "",
        "| neighbour | seed | verdict | failed rows |",
        "|---|---|---|---|",
    ]
    for r in table["runs"]:
        why = r["error"] or ", ".join(r["failed_preconditions"] + r["failed_claims"]) or "—"
        verdict = r["verdict"] + (" (not reached)" if r.get("not_reached") else "") + (f", trained to {r['extended_to']} steps" if r.get("extended_to") else "")
        lines.append(f"| {markdown_cell(r['neighbour'])} | {r['seed']} | {verdict} | {markdown_cell(why)} |")
    lines += ["", "| row | pass fraction | runs with the row |", "|---|---|---|"]
    lines += [f"| {markdown_cell(name)} | {row['pass_fraction']:.2f} | {row['runs']} |" for name, row in table["rows"].items()]
    return "\n".join(lines) + "\n"


class RobustnessJSON(dict[str, Any]):
    """The table :func:`~case_studies.generality.robustness.run_robustness` returns and writes to ``robustness.json``:
    a dict (``table["pass_fraction"]``) that a notebook shows as ``robustness.md``'s tables and IPython as one line;
    ``print(table)`` shows every field.

    Examples:
        >>> table = RobustnessJSON(case_study="toy", preset="quick", pass_fraction=0.5, rows={},
        ...                        runs=[{"neighbour": "lr=0.1", "seed": 0, "verdict": "pass", "failed_claims": [], "failed_preconditions": [], "error": None},
        ...                              {"neighbour": "lr=0.1", "seed": 1, "verdict": "fail", "failed_claims": ["a"], "failed_preconditions": [], "error": None}])
        >>> table["pass_fraction"], table._repr_markdown_().splitlines()[7]
        (0.5, '| lr=0.1 | 1 | fail | a |')
    """

    def _repr_markdown_(self) -> str | None:
        """The table's markdown (:func:`to_markdown`), or ``None`` (IPython then
        shows the text) for an object that is not a whole table."""
        try:
            return to_markdown(self)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """One line in IPython (:func:`repr` stays the dict's)."""
        printer.text(_robustness_line("RobustnessJSON", self))


def _robustness_line(kind: str, data: dict[str, Any], path: Path | None = None) -> str:
    """A robustness table as one line: its case study, how many runs pass, and what failed in the others (three shown)."""
    runs = [r for r in data.get("runs") or [] if isinstance(r, dict)]
    failed = {f"{r.get('neighbour')}/seed-{r.get('seed')}": str(r["error"])[:60] if r.get("error") else [*(r.get("failed_preconditions") or []), *(r.get("failed_claims") or [])] or r.get("verdict")
              for r in runs if r.get("verdict") != "pass"}
    shown = dict(list(failed.items())[:3]) | ({"...": f"{len(failed) - 3} more"} if len(failed) > 3 else {})
    where = f", path={str(path)!r}" if path is not None else ""
    passing = sum(r.get("verdict") == "pass" for r in runs)
    return f"{kind}({data.get('case_study')!r}, {data.get('preset')!r}{where}, passing={passing} of {len(runs)}, failed={shown!r})"


def load_robustness(path: str | Path) -> RobustnessTable:
    """The robustness output ``path`` (``mechbridge robustness CASE --out DIR``): its ``robustness.json`` and
    ``robustness.md``, checked.

    A markdown without a stamp (written before tables were stamped) is read as it is, unless the JSON beside it
    records ``"markdown_stamped"``: then the markdown is not the one written with it.

    Raises:
        RunError: ``path`` is not a robustness output (no such folder, one case study's output, a ``--seeds`` output or
            a run over hidden widths, or neither table file nor any ``NEIGHBOUR/seed-S`` run).
        CorruptFileError: either file missing, the JSON not a table with a verdict for every run, the markdown not text,
            or the markdown not written with the JSON beside it; the message names the file and the command that
            writes both again.

    Examples:
        >>> robust = load_robustness("runs/dl-robust")  # doctest: +SKIP
        >>> robust.table().groupby("neighbour").verdict.value_counts()  # doctest: +SKIP
    """
    from case_studies.generality.load import read_stamped_pair

    run_dir = output_folder(path, "a robustness output")

    def a_table(table: Any) -> None:
        runs = table.get("runs") if isinstance(table, dict) else None
        if not isinstance(runs, list) or not runs or not all(isinstance(r, dict) and isinstance(r.get("verdict"), str) for r in runs):
            raise ValueError("expected an object whose 'runs' list holds a verdict for every run")

    table, text = read_stamped_pair(run_dir / ROBUSTNESS, run_dir / ROBUSTNESS_MD, robustness_again(run_dir), "is damaged or not a robustness table", a_table)
    return RobustnessTable(run_dir, table, text)


@dataclass(frozen=True)
class WidthsRecord:
    """A run over hidden widths read back: ``data`` is ``universality.json`` as written (``"seeds"``, each width's
    seed verdict under ``"widths"``, the ``"universality"`` row), ``path`` the output.

    Examples:
        >>> row = {"name": "same representation", "value": 0.99, "target": ">= 0.95", "passed": True}
        >>> record = WidthsRecord(Path("w"), {"seeds": [0], "widths": {"128": "pass", "64": "pass"}, "universality": row})
        >>> record.widths, record.row.value, record.passed
        ({64: 'pass', 128: 'pass'}, 0.99, True)
    """

    path: Path
    data: dict[str, Any]

    def __repr__(self) -> str:  # one line: the record is in .data
        row = self.data.get("universality") or {}
        return f"WidthsRecord({str(self.path)!r}, widths={self.widths!r}, universality={row.get('value')!r} ({row.get('target')}), passed={self.passed!r})"

    @property
    def seeds(self) -> list[int]:
        """The seeds every width ran."""
        return list(self.data["seeds"])

    @property
    def widths(self) -> dict[int | str, str]:
        """Each hidden width's seed verdict, by width (an integer), in increasing width."""
        order = sorted(self.data["widths"], key=lambda w: (0, int(w)) if w.isdigit() else (1, w))
        return {int(w) if w.isdigit() else w: self.data["widths"][w] for w in order}

    @property
    def row(self) -> Check:
        """The universality row (:class:`~bridge.match.Check`: the smallest debiased CKA between any two runs)."""
        from bridge.match import Check
        from bridge.report import stored_rows

        return stored_rows(Check, [{"value": None, "target": "", **self.data["universality"]}])[0]

    @property
    def passed(self) -> bool:
        """Whether the universality row passes and so does every width's seed verdict (as ``mechbridge report`` exits 0)."""
        return bool(self.data["universality"]["passed"]) and all(v == "pass" for v in self.data["widths"].values())

    def table(self) -> pd.DataFrame:
        """The widths: a pandas DataFrame with columns ``width`` and ``seed_verdict``, in increasing width."""
        import pandas as pd

        return pd.DataFrame(list(self.widths.items()), columns=["width", "seed_verdict"])

    def seed_report(self, width: int) -> SeedReport:
        """The seed report of hidden width ``width`` (:func:`~case_studies.generality.load.load_seed_report` of ``width-W``)."""
        from case_studies.generality.load import load_seed_report

        return load_seed_report(self.path / f"width-{width}")


def load_universality(path: str | Path) -> WidthsRecord:
    """The run over hidden widths ``path`` (:func:`~case_studies.generality.universality.run_widths`): its
    ``universality.json``, checked.

    Raises:
        RunError: ``path`` is not a run over hidden widths (no such folder, one case study's output, a ``--seeds``
            output or a robustness output, or neither ``universality.json`` nor any ``width-W/seed-S`` run).
        CorruptFileError: the file missing, not JSON or not the record ``run_widths`` writes; the message names the
            file and the call that writes it again.

    Examples:
        >>> record = load_universality("runs/dl-widths")  # doctest: +SKIP
        >>> record.row.value, record.widths  # doctest: +SKIP
        (0.99998, {64: 'pass', 128: 'pass', 256: 'pass'})
    """
    run_dir = output_folder(path, "a run over hidden widths")
    js = run_dir / UNIVERSALITY
    if not js.is_file():
        raise CorruptFileError(f"{js} is missing (its writer was killed before it, or it was moved): `{widths_again(run_dir)}` (Python) writes it")
    try:
        data = json.loads(js.read_bytes())
        seeds, widths, row = (data.get(k) for k in ("seeds", "widths", "universality")) if isinstance(data, dict) else (None, None, None)
        if not (isinstance(seeds, list) and isinstance(widths, dict) and widths and all(isinstance(v, str) for v in widths.values())
                and isinstance(row, dict) and isinstance(row.get("name"), str) and isinstance(row.get("passed"), bool)):
            raise ValueError("expected an object with 'seeds', each width's seed verdict under 'widths', and the 'universality' row")
    except ValueError as e:
        raise CorruptFileError(f"{js} is damaged or not a record of a run over hidden widths ({e}): `{widths_again(run_dir)}` (Python) writes it again") from None
    return WidthsRecord(run_dir, data)
