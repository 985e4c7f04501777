"""A case study on neighbouring configurations: does it hold beyond its preset?

Each case study declares a *family*: the preset fields a researcher would vary, by
dotted path, with the values to try (``CaseStudy.family``). A *neighbour* changes one
or two of them (``--set`` settings drawn with a seeded generator, never the preset's
own value). :func:`run_robustness` runs the case study on each neighbour and seed into
``OUT/<neighbour>/seed-<S>`` and writes ``robustness.json`` and ``robustness.md``: per
neighbour and seed the verdict and the failing rows, and the pass fraction per row and
overall. A neighbour whose run raises is recorded with its error, and the others go on.

Examples:
    >>> family = {"train.lr": (0.025, 0.1), "model.d_hidden": (64, 256)}
    >>> [n.settings for n in neighbours(family, 3, seed=0)]  # doctest: +NORMALIZE_WHITESPACE
    [('model.d_hidden=256', 'train.lr=0.1'), ('model.d_hidden=256', 'train.lr=0.025'), ('train.lr=0.025',)]
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.config import ConfigError
from bridge.report import BridgeReport, says_not_reached
from bridge.sweep.grid import check_seeds, value_text
from case_studies.generality.tables import RobustnessJSON, to_markdown

ROBUSTNESS = "robustness.json"


@dataclass(frozen=True)
class Neighbour:
    """A neighbouring configuration: ``settings`` (``"path=value"``) applied to the preset.

    Examples:
        >>> Neighbour(("train.lr=0.1", "model.d_hidden=64")).key
        'train.lr=0.1,model.d_hidden=64'
    """

    settings: tuple[str, ...]

    @property
    def key(self) -> str:
        """A readable folder name, e.g. ``train.lr=0.1,model.d_hidden=64``."""
        return ",".join(self.settings).replace("/", "_")


def field_settings(field: str, value: Any) -> list[str]:
    """The ``"path=value"`` settings of one family field at ``value`` (a ``+``-joined field sets each path).

    Examples:
        >>> field_settings("train.lr", 0.1), field_settings("task.n_ctx+model.n_ctx", (28, 28))
        (['train.lr=0.1'], ['task.n_ctx=28', 'model.n_ctx=28'])
    """
    paths = field.split("+")
    values = tuple(value) if len(paths) > 1 and isinstance(value, tuple | list) else (value,)
    if len(values) != len(paths):
        raise ConfigError(f"family field {field!r} joins {len(paths)} paths, so each value needs {len(paths)} parts, got {value!r}")
    return [f"{p}={value_text(v)}" for p, v in zip(paths, values)]


def neighbours(family: Mapping[str, Sequence[Any]], n: int, *, seed: int = 0, max_changes: int = 2) -> list[Neighbour]:
    """``n`` distinct neighbours of a preset, each changing 1 to ``max_changes`` family fields.

    Drawn with ``random.Random(seed)``: the same family, ``n`` and seed give the same
    neighbours. Fewer than ``n`` come back when the family has fewer distinct neighbours.

    Args:
        family: dotted preset path → values to try (the preset's own value left out). Fields
            that must change together are one entry: their paths joined by ``+``, each value
            a tuple with one value per path (``{"task.d_vocab+model.d_vocab": ((32, 32),)}``).
        n: how many neighbours.
        seed: seed of the draw.
        max_changes: the most fields one neighbour changes.

    Raises:
        ConfigError: an empty family, a field without values or whose values are not a tuple (a string), or ``n``
            or ``max_changes`` not a positive integer.

    Examples:
        >>> neighbours({"train.lr": (0.1,)}, 5)   # only one neighbour exists
        [Neighbour(settings=('train.lr=0.1',))]
    """
    for name, values in family.items():
        if isinstance(values, str | bytes) or not isinstance(values, Collection):
            raise ConfigError(f"family field {name!r} needs a tuple of values to try, got {values!r}" + (f" (a string is not one value: give ({values!r},))" if isinstance(values, str) else ""))
    if not family or any(len(v) == 0 for v in family.values()):
        raise ConfigError("a family needs at least one field, each with at least one value to try")
    if any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in (n, max_changes)):
        raise ConfigError(f"neighbours takes n >= 1 and max_changes >= 1 (integers), got {n!r} and {max_changes!r}")
    rng = random.Random(seed)
    fields = sorted(family)
    found: list[Neighbour] = []
    seen: set[tuple[str, ...]] = set()
    within = [1] + [0] * max_changes  # within[k]: the neighbours changing exactly k fields (of those seen so far)
    for values in family.values():
        for k in range(max_changes, 0, -1):
            within[k] += within[k - 1] * len(values)
    limit = min(n, sum(within[1:]))  # every distinct neighbour there is: a larger n draws no more
    attempts = 0
    while len(found) < limit and attempts < 100 * n:
        attempts += 1
        changed = sorted(rng.sample(fields, rng.randint(1, min(max_changes, len(fields)))))
        settings = tuple(s for f in changed for s in field_settings(f, rng.choice(list(family[f]))))
        if settings not in seen:
            seen.add(settings)
            found.append(Neighbour(settings))
    return found


def summarise(results: Mapping[str, Mapping[int, Any]], case_study: str, preset: str) -> dict[str, Any]:
    """The robustness table of per-neighbour, per-seed reports (or error strings).

    Args:
        results: neighbour key → seed → a :class:`~bridge.report.BridgeReport`, or a
            string (the error of a run that raised).

    Returns:
        ``{"case_study", "preset", "runs": [{neighbour, seed, verdict, failed_claims,
        failed_preconditions, not_reached, extended_to, error}], "rows": {name: {"pass_fraction", "runs"}},
        "pass_fraction", "neighbours": {key: pass fraction}}``. A row's pass fraction
        is over the runs that report it (``runs`` of them: rows named after a size,
        such as a mode of a deeper hierarchy, exist only in some neighbours); a run
        that raised counts against the overall pass fraction. ``not_reached`` marks a run
        whose phenomenon did not appear within its steps (an invalid verdict, not a failed claim);
        ``extended_to`` the steps a run was trained on to (with a budget), else ``None``.

    Examples:
        >>> from bridge.match import check
        >>> from bridge.report import BridgeReport
        >>> ok = BridgeReport("toy", "quick", 0, checks=[check("a", 1.0, "== 1", True)])
        >>> table = summarise({"lr=0.1": {0: ok, 1: "diverged at step 30"}}, "toy", "quick")
        >>> table["pass_fraction"], table["rows"]
        (0.5, {'a': {'pass_fraction': 1.0, 'runs': 1}})
    """
    runs = []
    row_passes: dict[str, dict[tuple[str, int], bool]] = {}
    for key, by_seed in results.items():
        for seed, report in by_seed.items():
            if isinstance(report, str):
                runs.append({"neighbour": key, "seed": seed, "verdict": "error", "failed_claims": [], "failed_preconditions": [], "not_reached": False, "extended_to": None, "error": report})
                continue
            runs.append({"neighbour": key, "seed": seed, "verdict": report.verdict, "failed_claims": report.failed_claims, "failed_preconditions": report.failed_preconditions,
                         "not_reached": report.not_reached, "extended_to": _extended_to(report), "error": None})
            for row in report.rows:
                row_passes.setdefault(row.row_key, {})[(key, seed)] = bool(row.passed)
    rows = {name: {"pass_fraction": sum(passes.values()) / len(passes), "runs": len(passes)} for name, passes in row_passes.items()}
    per_neighbour = {key: sum(r["verdict"] == "pass" for r in runs if r["neighbour"] == key) / max(1, len(results[key])) for key in results}
    return {
        "case_study": case_study,
        "preset": preset,
        "runs": runs,
        "rows": rows,
        "neighbours": per_neighbour,
        "pass_fraction": sum(r["verdict"] == "pass" for r in runs) / len(runs) if runs else 0.0,
    }


def _extended_to(report: Any) -> int | None:
    """The steps a run was last extended to (``report.json``'s ``"extended"``), or ``None``."""
    extended = report.extra.get("extended")
    return int(extended[-1]["to"]) if extended else None


def robustness_output(out: str | Path, resume: bool) -> Path:
    """``out`` as a path, checked from the file system before any work: :func:`~case_studies.base.inputs.new_output`,
    holding nothing but a robustness output's files when resumed.

    Examples:
        >>> import tempfile; out = Path(tempfile.mkdtemp()); _ = (out / "notes.txt").write_text("mine")
        >>> robustness_output(out, resume=True)
        Traceback (most recent call last):
        ...
        FileExistsError: ... holds files that are not part of a robustness output (notes.txt); choose another --out
    """
    from case_studies.base.inputs import new_output

    out = new_output(out, resume)
    foreign = sorted(p.name for p in out.iterdir() if not (p.name.startswith(".") or p.name in (ROBUSTNESS, "robustness.md") or (p.is_dir() and "=" in p.name))) if out.is_dir() else []
    if foreign:  # a neighbour's folder is named by its settings (path=value); hidden names are temporary files and backend logs
        raise FileExistsError(f"{out} holds files that are not part of a robustness output ({', '.join(foreign[:3])}); choose another --out")
    return out


def run_robustness(
    name: str,
    preset: str | Any,
    out: str | Path,
    *,
    n_neighbours: int = 8,
    seeds: Sequence[int] = (0, 1, 2),
    draw_seed: int = 0,
    device: str = "auto",
    progress: bool | None = None,
    resume: bool = False,
    backend: str | Any = "local",
    backend_options: Mapping[str, Any] | None = None,
    budget: int | None = None,
    settings: Sequence[str] = (),
) -> dict[str, Any]:
    """Run case study ``name`` on ``n_neighbours`` neighbours of ``preset`` × ``seeds``; write ``robustness.json``, then
    ``robustness.md``, which ends with the SHA-256 of that JSON (:func:`bridge.runs.checksums.stamp`; ``mechbridge report``
    refuses a pair a kill between the two writes left disagreeing).

    Every neighbour's configs are validated before any training. With ``resume``, a
    neighbour and seed whose report exists is read (re-analysed), not retrained.
    On a sweep backend (``"ray"``, ``"submitit"`` or a backend object) every neighbour
    and seed is one job, a whole case study in a worker; the table is then built from
    the reports they wrote. With ``budget``, every neighbour trains until its phenomenon
    appears or ``budget`` steps (:func:`case_studies.generality.budget.run_until`).
    ``settings`` (``"path=value"``) change the preset before each neighbour's own settings:
    the robustness of a recipe that is not a preset yet; ``preset`` may also be a preset object (``"custom"``).

    Raises:
        ConfigError: no seeds or a bad one, the case study declares no family, a neighbour's setting is invalid,
            or the backend is unknown or not installed.
        FileExistsError: ``out`` holds files and ``resume`` is false, or files that are not part of a robustness output.

    Examples:
        >>> table = run_robustness("deep-linear", "quick", "runs/dl-robust", n_neighbours=8)  # doctest: +SKIP
        >>> table["pass_fraction"]  # doctest: +SKIP
    """
    from bridge.overrides import apply
    from bridge.runs.checksums import stamp
    from bridge.runs.run_json import has_report
    from bridge.runs.storage import atomic_write_bytes, atomic_write_text, json_bytes, read_json
    from bridge.sweep.backends import get_backend
    from bridge.training.inputs import resolve_device, validate
    from case_studies.base import get_case_study, resolve_preset
    from case_studies.base.runner import rebuild_report
    from case_studies.generality.budget import budget_steps, preset_steps
    from case_studies.generality.stored import diverged_data

    seeds = check_seeds(seeds)
    study = get_case_study(name)
    if not study.family:
        raise ConfigError(f"case study {name!r} declares no family of neighbouring settings")
    remote = backend if not isinstance(backend, str) else None if backend == "local" else get_backend(backend, **(backend_options or {}))
    preset_name, preset_obj = resolve_preset(study, preset)
    given = preset_obj if preset_name == "custom" else preset_name  # what each neighbour's study starts from
    chosen = neighbours(study.family, n_neighbours, seed=draw_seed)
    base = tuple(settings)
    apply(preset_obj, base)  # a bad base setting stops here, named
    for neighbour in chosen:
        changed = apply(preset_obj, [*base, *neighbour.settings])
        if budget is not None:
            budget_steps(preset_steps(name, changed), budget)
        for seed in seeds:
            for cfg in study.runs(changed, seed).values():
                validate(cfg)
    if remote is None:
        resolve_device(device)
    out = robustness_output(out, resume)
    places = {(n.key, seed): (n, out / n.key / f"seed-{seed}") for n in chosen for seed in seeds}
    for n, folder in places.values():  # a resumed table describes the runs it holds: they were trained with these settings
        recorded = read_json(folder / "run.json").get("settings") if resume and (folder / "run.json").is_file() else None
        if recorded is not None and budget is not None and len(recorded) == len(base) + len(n.settings) + 1 and str(recorded[-1]).startswith("train.steps="):
            recorded = recorded[:-1]  # the length a budget extended the run to
        if recorded is not None and list(recorded) != [*base, *n.settings]:
            raise ConfigError(f"{folder} was trained with settings {recorded}, not {[*base, *n.settings]}: resume with the same --set, or choose another --out")
    errors: dict[tuple[str, int], str] = {}
    if remote is not None:
        from bridge.sweep.backends import Job
        from bridge.sweep.family import run_job

        todo = [(key, n, folder) for key, (n, folder) in places.items() if not (resume and has_report(folder))]
        jobs = [Job(run_job, (train_neighbour, (name, given, seed, (*base, *n.settings)), f"{k}/seed-{seed}", str(folder), {"device": device, "budget": budget}), f"{k}/seed-{seed}") for (k, seed), n, folder in todo]
        by_job = {job.key: key for job, (key, _, _) in zip(jobs, todo)}

        def record(outcome: dict[str, Any]) -> None:
            if outcome["status"] != "done":
                errors[by_job[outcome["key"]]] = (outcome.get("error") or "failed on the backend").strip().splitlines()[0]

        remote.run(jobs, record)
    results: dict[str, dict[int, Any]] = {}
    for (key, seed), (neighbour, folder) in places.items():
        try:
            if (key, seed) in errors:
                report: str | StoredReport | BridgeReport = errors[(key, seed)]  # an error's first line, or the run's report
            elif remote is not None:
                report = StoredReport.read(folder)
            elif resume and has_report(folder) and diverged_data(folder) is not None:  # a failed (diverged) run's report is read, not re-analysed
                report = StoredReport.read(folder)
            elif resume and has_report(folder) and preset_name != "custom":  # a preset object is not on file: train_neighbour analyses its runs again
                report = rebuild_report(folder)
            else:
                report = train_neighbour(name, given, seed, (*base, *neighbour.settings), key, str(folder), device=device, progress=progress, resume=resume, budget=budget)
        except (ArithmeticError, RuntimeError, ValueError) as e:  # a run that diverges or breaks is a result, not the end of the study
            report = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        results.setdefault(key, {})[seed] = report
    table = summarise(results, study.name, preset_name)
    table["family"] = {k: [value_text(v) for v in values] for k, values in study.family.items()}
    table["seeds"] = list(seeds)
    table["draw_seed"] = draw_seed
    table["settings"] = list(base)
    table["budget"] = budget  # what a resume needs (``mechbridge report`` spells it)
    table["markdown_stamped"] = True  # robustness.md ends with this file's SHA-256: one without it was cut short
    out.mkdir(parents=True, exist_ok=True)
    data = json_bytes(table)  # the markdown ends with the SHA-256 of these bytes: a kill between the two files is told
    atomic_write_bytes(out / ROBUSTNESS, data)
    atomic_write_text(out / "robustness.md", stamp(to_markdown(table), ROBUSTNESS, data))
    return RobustnessJSON(table)


def train_neighbour(name: str, preset: str | Any, seed: int, settings: Sequence[str], key: str, folder: str, *, device: str = "cpu", progress: bool | None = False, resume: bool = True, budget: int | None = None) -> Any:
    """One neighbour and seed of :func:`run_robustness`: the whole case study into ``folder``; returns its report.

    In a backend's worker (through :func:`bridge.sweep.family.run_job`, which records its failure) it resumes
    what a killed worker left there. With ``budget`` it trains until the phenomenon appears or that many steps.

    Examples:
        >>> train_neighbour("deep-linear", "quick", 0, ["train.lr=0.05"], "train.lr=0.05", "runs/dl-robust/train.lr=0.05/seed-0").verdict  # doctest: +SKIP
        'pass'
    """
    from case_studies.base.runner import run_case_study
    from case_studies.generality.budget import run_until

    if budget is not None:
        return run_until(name, preset, folder, cap=budget, seed=seed, device=device, progress=progress, resume=resume, settings=list(settings))
    return run_case_study(name, preset, folder, seed=seed, device=device, progress=progress, resume=resume, settings=list(settings))


@dataclass(frozen=True)
class StoredRow:
    """A report row as stored in ``report.json``: its key (else its name) and whether it passed.

    Examples:
        >>> StoredRow("gap", True).passed
        True
    """

    row_key: str
    passed: bool


@dataclass(frozen=True)
class StoredReport:
    """What :func:`summarise` reads of a report, from a finished output's ``report.json``.

    Examples:
        >>> stored = {0: StoredReport("pass", [], [], [StoredRow("gap", True)]), 1: StoredReport("fail", ["gap"], [], [StoredRow("gap", False)])}
        >>> summarise({"lr=0.1": stored}, "toy", "quick")["rows"]
        {'gap': {'pass_fraction': 0.5, 'runs': 2}}
    """

    verdict: str
    failed_claims: list[str]
    failed_preconditions: list[str]
    rows: list[StoredRow]
    not_reached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, folder: str | Path) -> StoredReport:
        """The report of the case-study output ``folder`` (checked against its record in ``run.json``).

        Raises:
            RunError: ``folder`` holds no finished report.
        """
        from bridge.runs.errors import RunError
        from bridge.runs.run import load_run

        data = load_run(folder).report
        if data is None:
            raise RunError(f"{folder} holds no report.json")
        rows = [StoredRow(r.get("key") or r["prediction"], bool(r["passed"])) for r in data.get("matches", [])] + [StoredRow(r.get("key") or r["name"], bool(r["passed"])) for r in data.get("checks", [])]
        late = any(says_not_reached(r.get("role", ""), bool(r["passed"]), r.get("reason", "")) for r in [*data.get("matches", []), *data.get("checks", [])])  # as BridgeReport.not_reached
        extra = {"extended": data["extended"]} if data.get("extended") else {}
        return cls(data["verdict"], list(data.get("failed_claims", [])), list(data.get("failed_preconditions", [])), rows, late, extra)
