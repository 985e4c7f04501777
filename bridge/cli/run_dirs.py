"""The commands on a run directory already written: ``analyze`` (trackers computed offline over its checkpoints
and appended to its metrics) and ``report`` (its stored report, checked against the record in ``run.json``, or
why it has none and what does; the table of a robustness output or a run over hidden widths, through
:mod:`bridge.cli.run_tables`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bridge.cli.errors import CLIError


def analyze_cmd(
    run_dir: Annotated[Path, typer.Argument(metavar="DIR", help="a run directory")],
    tracker: Annotated[list[str] | None, typer.Option("--tracker", metavar="NAME", help="tracker name (repeatable); default: the run's own trackers")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="drop the earlier rows of the observables written, not only those with the same index")] = False,
) -> None:
    """Compute trackers offline over every checkpoint of a run and append them to its metrics.

    Examples:
        >>> import tempfile; from bridge import RunConfig, TrainConfig, load_run, train; from bridge.models import DeepLinearConfig; from bridge.tasks import LinearTeacherConfig
        >>> run = train(RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(steps=2)), tempfile.mkdtemp() + "/run", device="cpu", progress=False)
        >>> analyze_cmd(run.path, tracker=["weight_norm"])  # doctest: +ELLIPSIS
        analyzed 3 checkpoints of .../run with weight_norm
        >>> load_run(run.path).observable("weights/norm").index.tolist()  # one norm per checkpoint
        [0, 1, 2]
    """
    from bridge.runs.errors import RunError
    from bridge.runs.run_json import read_record

    read_record(run_dir)  # what load_run refuses of the folder and its run.json, before torch is imported
    from bridge import analyze, load_run
    from bridge.trackers import get_tracker, tracker_names

    run = load_run(run_dir)
    recorded = run.info.get("trackers", [])
    if not isinstance(recorded, list) or not all(isinstance(n, str) for n in recorded):
        raise RunError(f"{run.path / 'run.json'}: 'trackers' must be a list of tracker names, got {recorded!r}")
    names = list(dict.fromkeys(tracker or recorded))  # a tracker named twice is measured once
    if not names:
        raise CLIError("no tracker given and the run records none; pass --tracker NAME")
    asked = [n for n in dict.fromkeys(tracker or []) if n not in tracker_names()]
    if asked:  # a tracker of the user's own is registered only once its module is imported
        raise CLIError(
            f"unknown tracker {', '.join(map(repr, asked))} (known: {', '.join(tracker_names())}); "
            f"a tracker of your own is known once its module is imported: `mechbridge --import MODULE analyze {run_dir} --tracker NAME`"
        )
    unknown = [n for n in dict.fromkeys(names) if n not in tracker_names()] if not tracker else []
    if unknown:  # a plugin's tracker is registered only once its module is imported
        raise CLIError(
            f"{run_dir} records tracker{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} that no imported module registers: "
            f"import the plugin that does with `mechbridge --import MODULE analyze {run_dir}`, or choose trackers with --tracker NAME"
        )
    trackers = [get_tracker(n) for n in names]
    analyze(run, trackers, fresh=fresh)
    typer.echo(f"analyzed {len(run.steps)} checkpoints of {run_dir} with {', '.join(names)}")


def report_cmd(
    run_dir: Annotated[Path, typer.Argument(metavar="DIR", help="a case study's output directory, a --seeds output (its seed report), a robustness output (its table) or a run over hidden widths (its universality.json)")],
    rebuild: Annotated[bool, typer.Option("--rebuild", help="re-analyse the stored runs (no training) and rewrite the report (of one case study's output)")] = False,
) -> None:
    """Print a run's stored bridge report (``--rebuild`` recomputes it first); exits 1 on a verdict other than pass.

    Of a robustness output it prints robustness.md and exits 1 unless every run of the table passes; of a run over
    hidden widths, a summary of universality.json, exiting 1 unless its universality row and every width's seed
    verdict pass.

    Examples:
        >>> import tempfile; out = Path(tempfile.mkdtemp()); _ = (out / "robustness.md").write_text("## Robustness: 2 of 2 runs pass")
        >>> _ = (out / "robustness.json").write_text('{"runs": [{"verdict": "pass"}, {"verdict": "pass"}]}')
        >>> report_cmd(out)
        ## Robustness: 2 of 2 runs pass
        >>> report_cmd(out / "missing")
        Traceback (most recent call last):
        ...
        bridge.runs.errors.RunError: run directory .../missing does not exist
    """

    from bridge.runs.run_json import check_folder, read_record
    from case_studies.generality.kinds import output_kind

    if rebuild:
        from bridge.cli.run_tables import rebuild_refusal
        from bridge.runs.run_json import runs_within
        from case_studies import rebuild_report
        from case_studies.generality.resume import seeds_again

        if (kind := output_kind(run_dir)) is not None:
            raise CLIError(rebuild_refusal(run_dir, kind))
        if _neighbour(run_dir):
            raise CLIError(_no_report(run_dir))
        if not (run_dir / "run.json").exists() and any(name.startswith("seed-") for name in runs_within(run_dir)):
            again = seeds_again(run_dir)
            raise CLIError(f"{run_dir} is a --seeds output, whose seed report --rebuild does not write: `{again}` writes it again from its runs (and `mechbridge report {run_dir}/seed-S --rebuild` rebuilds one seed's report)")
        read_record(run_dir)  # what load_run refuses of the folder and its run.json, before rebuild_report imports torch
        rebuild_report(run_dir)
    md, js = run_dir / "report.md", run_dir / "report.json"
    check_folder(run_dir)
    if (kind := output_kind(run_dir)) is not None:  # a table over many runs, checked as it is read
        from bridge.cli.run_tables import robustness_report, widths_report

        text, passed = (robustness_report if kind == "robustness" else widths_report)(run_dir)
        typer.echo(text)
        if not passed:
            raise typer.Exit(1)
        return
    if not (run_dir / "run.json").exists() and (run_dir / "seed_report.md").is_file() and (run_dir / "seed_report.json").is_file():
        from case_studies.generality.load import read_seed_report

        stored, text = read_seed_report(run_dir)  # `run --seeds`: the report over seeds, checked as it is read
        typer.echo(text)
        if stored["verdict"] != "pass":
            raise typer.Exit(1)
        return
    info = read_record(run_dir) if (run_dir / "run.json").exists() else None  # a damaged run.json is named, not said to hold no report
    files = (info or {}).get("files")
    if info is None or ((not md.exists() or not js.exists()) and "report.json" not in (files or {})):
        raise CLIError(_no_report(run_dir))  # a report without its run.json has no record to check it against
    from bridge.runs.checksums import verify
    from bridge.runs.errors import CorruptFileError, RunError
    from bridge.runs.run_json import config_shape_error, older_layout

    if wrong := config_shape_error(info):  # the run the report was made from is not on record: no report to print
        raise RunError(f"{run_dir / 'run.json'}: {wrong}")
    if "report.json" not in (files or {}):
        raise CLIError(older_layout(info, run_dir) or f"{run_dir} has no finished report (run.json records none; writing it was interrupted): finish it with --resume or pass --rebuild")
    for name in ["report.json", "report.md", *sorted(set(files or {}) - {"report.json", "report.md"})]:
        try:
            verify(run_dir, files, name)  # the report and every file written with it, as recorded
        except CorruptFileError as e:
            hint = "" if name == "metrics.csv" else f"; `mechbridge report {run_dir} --rebuild` writes the report again from its runs"
            raise CorruptFileError(f"{e}{hint}") from None
    from bridge.runs.headers import check_headers

    for folder in [run_dir, *sorted(p for p in (run_dir / "runs").glob("*") if p.is_dir())]:  # every checkpoint of the study's runs is whole
        check_headers(folder)  # (headers and sizes: no weights read)
    try:
        stored = json.loads(js.read_text())
        verdict = stored["verdict"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CLIError(f"{js} is not a valid report ({e}); rebuild it with --rebuild") from None
    typer.echo(md.read_text())
    if verdict != "pass":
        raise typer.Exit(1)


def _neighbour(run_dir: Path) -> bool:
    """Whether ``run_dir`` is one neighbour's folder (``NEIGHBOUR/seed-S`` runs) of a robustness output."""
    from case_studies.generality.kinds import output_kind

    return not (run_dir / "run.json").exists() and "=" in run_dir.name and output_kind(run_dir.parent) == "robustness"


def _no_report(run_dir: Path) -> str:
    """Why ``run_dir`` has no report to print, and what does have one."""
    from bridge.runs.lock import holder, is_stale
    from bridge.runs.storage import read_json
    from case_studies.base.runner import STAGING

    if (run_dir / "sweep.json").is_file():
        return f"{run_dir} is a sweep directory, which has no report of its own: `mechbridge sweep --status {run_dir}` lists its points, and `mechbridge report {run_dir}/points/KEY` prints a point's"
    if not (run_dir / "run.json").is_file() and (run_dir / STAGING / "run.json").is_file():  # a main run trained after the study's other runs
        staged = read_json(run_dir / STAGING / "run.json")
        live = isinstance(staged, dict) and staged.get("status") == "running" and (lock := holder(run_dir / STAGING)) is not None and not is_stale(lock)
        how = "it is still training (a live process holds its lock)" if live else f"it was interrupted; finish it with `{_run_again(run_dir, staged)}`"
        return f"{run_dir} has no report: its main run, trained after the study's other runs, is not finished (it is in {run_dir / STAGING} until it is): {how}"
    if not (run_dir / "run.json").is_file():
        from bridge.runs.run_json import runs_within
        from case_studies.generality.resume import seeds_again

        inside = runs_within(run_dir)
        if not inside:
            return f"{run_dir} is not a run directory (no run.json)"
        if _neighbour(run_dir):  # its seeds have no seed report: the table of the whole output counts them
            return f"{run_dir} is one neighbour of the robustness output {run_dir.parent}: `mechbridge report {run_dir.parent}` prints its table, and `mechbridge report {run_dir / inside[0]}` one run's report"
        seeds_output = any(name.startswith("seed-") for name in inside) and not ((run_dir / "seed_report.json").is_file() and (run_dir / "seed_report.md").is_file())
        why = f"; its seed report is missing (`{seeds_again(run_dir)}` writes it)" if seeds_output else ""
        return f"{run_dir} is not a run directory (no run.json) but holds run directories ({', '.join(inside[:3])}{', …' if len(inside) > 3 else ''}): `mechbridge report {run_dir / inside[0]}` prints one's report{why}"
    info = read_json(run_dir / "run.json")
    nested = run_dir.parent.name == "runs" and (run_dir.parent.parent / "run.json").is_file()  # a study's OUT/runs/<key>, resumed through OUT
    if isinstance(info, dict) and info.get("status") in ("running", "interrupted", "failed"):  # interrupted: ended by a signal or Ctrl-C
        live = info["status"] == "running" and (lock := holder(run_dir)) is not None and not is_stale(lock)  # as Run.status reads it
        study = run_dir.parent.parent if nested else run_dir  # what --resume continues, and whose run.json records the study
        record = _record(study / "run.json") if nested else info
        how = "it is still training (a live process holds its lock)" if live else f"its training {'failed' if info['status'] == 'failed' else 'was interrupted'} (last recorded step {info.get('last_step')}); finish it with `{_run_again(study, record)}`"
        return f"{run_dir} has no report: {how}"
    if isinstance(info, dict) and not info.get("case_study"):
        within = f"; the report of the case study it belongs to is in {run_dir.parent.parent}" if nested else ""
        return f"{run_dir} holds a run that no case study wrote, so it has no report (bridge.load_run reads its metrics){within}"
    return f"{run_dir} has no report (run it through `mechbridge run`, finish it with --resume, or pass --rebuild)"


def _record(path: Path) -> object:
    """The JSON in ``path``, or ``None`` when it cannot be read (the command is then spelled without it)."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _run_again(out: Path, record: object) -> str:
    """The ``mechbridge run`` command that resumes the case-study output ``out``, spelled from the study's record
    ``record`` (its main run's ``run.json``): the study, its preset, seed and settings, as far as it records them
    (``CASE`` for a study it does not name: a main run records it from its creation, one written by an earlier version once trained).

    Examples:
        >>> _run_again(Path("runs/dl"), {"case_study": "deep-linear", "preset": "quick", "case_seed": 3, "settings": ["train.lr=0.05"]})
        'mechbridge run deep-linear --preset quick --seed 3 --set train.lr=0.05 --out runs/dl --resume'
        >>> _run_again(Path("runs/dl"), {"status": "running"})
        'mechbridge run CASE --out runs/dl --resume'
    """
    import shlex

    info = record if isinstance(record, dict) else {}
    name, preset, seed, settings = (info.get(k) for k in ("case_study", "preset", "case_seed", "settings"))
    words = ["mechbridge", "run", name if isinstance(name, str) and name else "CASE"]
    words += ["--preset", preset] if isinstance(preset, str) and preset and preset != "custom" else []
    words += ["--seed", str(seed)] if isinstance(seed, int) and not isinstance(seed, bool) else []
    words += [w for s in (settings if isinstance(settings, list) else []) for w in ("--set", str(s))]
    return shlex.join([*words, "--out", str(out), "--resume"])
