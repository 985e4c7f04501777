"""The ``mechbridge`` command line: ``list``, ``run``, ``sweep``, ``analyze``, ``report``, ``--version``.

Every failure prints one line (``mechbridge: error: …``) and exits non-zero;
nothing already on disk is overwritten.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

try:  # typer >= 0.20 vendors its own copy of click
    from typer import _click as click
except ImportError:  # pragma: no cover - older typer
    import click  # type: ignore[no-redef]

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None, help="Bridge learning mechanics and mechanistic interpretability on toy models.")

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process stopped by Ctrl-C
INTERRUPTED = "interrupted (Ctrl-C or SIGINT); what was written is kept, and a run stopped this way is recorded as interrupted: the same command with --resume continues it"


class CLIError(Exception):
    """An error to report on one line (:func:`main` prints it and exits 2)."""


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"mechbridge {version('mechbridge')}")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
            typer.echo("mechbridge (not installed)")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")] = False,
    import_: Annotated[list[str] | None, typer.Option("--import", help="import a module (installed, or a .py file in the working directory) that registers trackers, models, tasks or case studies (repeatable)")] = None,
) -> None:
    """Bridge learning mechanics and mechanistic interpretability on toy models."""
    from bridge.plugins import export_plugins, load_plugins

    here = str(Path.cwd())
    search = here if import_ and "" not in sys.path and here not in sys.path else None
    if search:
        sys.path.append(search)  # as ``python -m`` does: a plugin module in the working directory imports
    load_plugins(import_ or [])
    if import_:
        export_plugins(import_, search)  # a backend's workers import them too


@app.command("list")
def list_cmd() -> None:
    """List case studies and trackers (imports none of them)."""
    from bridge.trackers import tracker_names
    from case_studies import case_study_names, summary

    typer.echo("case studies:")
    for name in case_study_names():
        typer.echo(f"  {name:<20} {summary(name)}")
    typer.echo("trackers: " + ", ".join(tracker_names()))


@app.command("run")
def run_cmd(
    case: Annotated[str, typer.Argument(help="case study name (see `mechbridge list`)")],
    preset: Annotated[str, typer.Option(help="quick (CPU, minutes) or full (published scale)")] = "quick",
    out: Annotated[Path | None, typer.Option(help="output directory to create, default runs/CASE-PRESET-seedS (runs/CASE-PRESET-seedsA-B with --seeds); must not exist unless --resume")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    seed: Annotated[int | None, typer.Option(help="seed for data, initialisation and batch order (default 0)", min=0, max=2**63 - 1)] = None,
    seeds: Annotated[str | None, typer.Option(help="run every seed of a list such as 0-9 or 0,2,5 into --out/seed-<S> and write a seed report")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="continue the runs in --out from their last good checkpoints")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help="change a preset field by dotted path, e.g. train.lr=0.02 (repeatable; all are applied together)")] = None,
    steps: Annotated[int | None, typer.Option(help="training steps (the same as --set train.steps=N)", min=1)] = None,
    budget: Annotated[int | None, typer.Option(help="train until the phenomenon appears: double train.steps while the report says 'not reached', up to this many steps", min=1)] = None,
    progress: Annotated[bool | None, typer.Option("--progress/--quiet", help="progress bars (default: only on a terminal; plain lines otherwise)")] = None,
    log: Annotated[list[str] | None, typer.Option("--log", help="stream metrics to tensorboard or wandb (offline) as they are written (repeatable)")] = None,
    stack: Annotated[bool, typer.Option("--stack/--no-stack", help="with --seeds: train the seeds of each run together, one vectorised step for all (local backend)")] = True,
    backend: Annotated[str, typer.Option(help="where the study's runs train: local (one after another here), ray or submitit (one job per run)")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default: start Ray on this machine)")] = None,
    workers: Annotated[int | None, typer.Option(help="runs at once: CPUs of a local Ray, jobs at once on submitit", min=1)] = None,
    cluster: Annotated[str | None, typer.Option(help="submitit cluster: slurm, local or debug (default: slurm if available)")] = None,
) -> None:
    """Run a case study end to end and write its run directories, report and figures."""
    from case_studies import get_case_study, run_case_study

    study = get_case_study(case)
    if preset not in study.presets:
        raise CLIError(f"case study {case!r} has no preset {preset!r} (presets: {', '.join(study.presets)})")
    settings = list(set_ or []) + ([f"train.steps={steps}"] if steps is not None else [])
    where = {"backend": backend, "backend_options": _backend_options(backend, address, workers, cluster)}
    if seeds is not None:
        from case_studies.generality.seeds import parse_seeds, run_seeds

        if seed is not None:
            raise CLIError("give either --seed or --seeds, not both")
        if budget is not None:
            raise CLIError("--budget trains one seed until its phenomenon appears: give --seed with it, not --seeds")
        seed_list = parse_seeds(seeds)
        out = out or Path("runs") / f"{case}-{preset}-seeds{seeds}"
        seed_report = run_seeds(case, preset, out, seed_list, device=device, resume=resume, settings=settings, progress=progress, stack=stack, loggers=list(log or []), **where)
        passed = sum(v == "pass" for v in seed_report.verdicts.values())
        typer.echo(
            f"{case} [{preset}, seeds {seeds}]: {seed_report.verdict} — {passed} of {len(seed_list)} seeds pass "
            f"(threshold {seed_report.threshold:.2f}) — report: {out / 'seed_report.md'}"
        )
        if seed_report.verdict != "pass":
            raise typer.Exit(1)
        return
    seed = 0 if seed is None else seed
    out = out or Path("runs") / f"{case}-{preset}-seed{seed}"
    if budget is not None:
        from case_studies.generality.budget import run_until

        report = run_until(case, preset, out, cap=budget, seed=seed, device=device, resume=resume, settings=settings, progress=progress, loggers=list(log or []), **where)
    else:
        report = run_case_study(case, preset, out, seed=seed, device=device, resume=resume, settings=settings, progress=progress, loggers=list(log or []), **where)
    why = ""
    if report.verdict == "invalid":
        why = f" (preconditions failed: {', '.join(report.failed_preconditions) or 'no counted claim'})"
    elif report.verdict in ("partial", "fail"):
        why = f" (claims failed: {', '.join(report.failed_claims)})"
    longer = f", trained to {report.extra['extended'][-1]['to']} steps" if report.extra.get("extended") else ""
    typer.echo(f"{case} [{preset}, seed {seed}{longer}]: {report.verdict}{why} — report: {out / 'report.md'}")
    if report.verdict != "pass":
        raise typer.Exit(1)


@app.command("robustness")
def robustness_cmd(
    case: Annotated[str, typer.Argument(help="case study name (see `mechbridge list`)")],
    preset: Annotated[str, typer.Option(help="the preset whose neighbours are run")] = "quick",
    neighbours: Annotated[int, typer.Option(help="how many neighbouring configurations", min=1)] = 8,
    seeds: Annotated[str, typer.Option(help="seeds of every neighbour, e.g. 0-2")] = "0-2",
    draw_seed: Annotated[int, typer.Option(help="seed of the draw of neighbours", min=0)] = 0,
    out: Annotated[Path | None, typer.Option(help="output directory to create, default runs/CASE-PRESET-robustness; must not exist unless --resume")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="read the neighbours already done instead of refusing --out")] = False,
    progress: Annotated[bool | None, typer.Option("--progress/--quiet", help="progress bars (default: only on a terminal)")] = None,
    backend: Annotated[str, typer.Option(help="where the neighbours run: local (one after another here), ray or submitit (one job per neighbour and seed)")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default: start Ray on this machine)")] = None,
    workers: Annotated[int | None, typer.Option(help="jobs at once: CPUs of a local Ray, jobs at once on submitit", min=1)] = None,
    cluster: Annotated[str | None, typer.Option(help="submitit cluster: slurm, local or debug (default: slurm if available)")] = None,
    budget: Annotated[int | None, typer.Option(help="train every neighbour until its phenomenon appears, doubling train.steps up to this many", min=1)] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="change the preset before each neighbour's settings, e.g. train.warmup=100 (repeatable)")] = None,
) -> None:
    """Run a case study on neighbouring configurations of a preset and write robustness.json."""
    from case_studies import get_case_study
    from case_studies.generality.robustness import run_robustness
    from case_studies.generality.seeds import parse_seeds

    study = get_case_study(case)
    if preset not in study.presets:
        raise CLIError(f"case study {case!r} has no preset {preset!r} (presets: {', '.join(study.presets)})")
    out = out or Path("runs") / f"{case}-{preset}-robustness"
    options = _backend_options(backend, address, workers, cluster)
    if backend == "submitit":
        options["folder"] = str(out / ".submitit")
    table = run_robustness(
        case, preset, out, n_neighbours=neighbours, seeds=parse_seeds(seeds), draw_seed=draw_seed, device=device, progress=progress, resume=resume, backend=backend, backend_options=options, budget=budget, settings=list(set_ or [])
    )
    passed = sum(r["verdict"] == "pass" for r in table["runs"])
    typer.echo(f"{case} [{preset}, {len(table['neighbours'])} neighbours × seeds {seeds}]: {passed} of {len(table['runs'])} runs pass — {out / 'robustness.md'}")


@app.command("sweep")
def sweep_cmd(
    case: Annotated[str | None, typer.Argument(help="case study name (see `mechbridge list`)")] = None,
    preset: Annotated[str, typer.Option(help="the preset every point starts from")] = "quick",
    grid: Annotated[list[str] | None, typer.Option("--grid", help="an axis: dotted field and values, e.g. train.lr=1e-3,3e-3 (repeatable; a tuple value is [1,2])")] = None,
    seeds: Annotated[str | None, typer.Option(help="seeds of every point: A-B or a list, e.g. 0-7")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="change a preset field for every point, e.g. train.steps=500 (repeatable)")] = None,
    backend: Annotated[str, typer.Option(help="local (this process), ray or submitit")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default: start Ray on this machine)")] = None,
    workers: Annotated[int | None, typer.Option(help="points at once: CPUs of a local Ray, jobs at once on submitit", min=1)] = None,
    cluster: Annotated[str | None, typer.Option(help="submitit cluster: slurm, local or debug (default: slurm if available)")] = None,
    threads: Annotated[int, typer.Option(help="torch threads (and CPUs reserved) per point", min=1)] = 1,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "cpu",
    out: Annotated[Path | None, typer.Option(help="sweep directory, default sweeps/CASE-PRESET (re-run the same command to resume it)")] = None,
    status: Annotated[Path | None, typer.Option("--status", help="print the state of every point of a sweep directory and exit")] = None,
    progress: Annotated[bool | None, typer.Option("--progress/--quiet", help="progress over points (default: a bar on a terminal, plain lines otherwise)")] = None,
    log: Annotated[list[str] | None, typer.Option("--log", help="stream every run's metrics to tensorboard or wandb (offline) (repeatable)")] = None,
) -> None:
    """Run a case study over a grid of settings and seeds; each point is an ordinary case-study output."""
    if status is not None:
        _print_status(status)
        return
    if case is None:
        raise CLIError("name a case study to sweep, or pass --status DIR")
    from bridge.sweep import parse_grid_option, parse_seeds, run_sweep

    parsed = [parse_grid_option(g) for g in grid or []]
    axes = dict(parsed)
    if len(axes) < len(parsed):
        repeated = sorted({k for k, _ in parsed if [key for key, _ in parsed].count(k) > 1})
        raise CLIError(f"--grid {repeated[0]} is given more than once; list all its values in one axis ({repeated[0]}=v1,v2)")
    seed_list = parse_seeds(seeds) if seeds is not None else None
    if not axes and seed_list is None:
        raise CLIError("a sweep needs at least one --grid axis or --seeds")
    options = _backend_options(backend, address, workers, cluster)
    out = out or Path("sweeps") / f"{case}-{preset}"
    result = run_sweep(case, out, grid=axes, seeds=seed_list, preset=preset, settings=list(set_ or []), backend=backend, device=device, threads=threads, progress=progress, loggers=list(log or []), **options)
    states = result.status()["status"].value_counts().to_dict()
    typer.echo(f"{case} [{preset}] sweep of {len(result.keys)} points: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())) + f" — results: {out / 'results.csv'}")
    if states.get("done", 0) != len(result.keys):
        raise typer.Exit(1)


def _backend_options(backend: str, address: str | None, workers: int | None, cluster: str | None) -> dict:
    """The options of a backend from the command line; those of another backend are refused."""
    if backend == "ray":
        return {"address": address, "workers": workers}
    if backend == "submitit":
        return {"cluster": cluster, "workers": workers}
    if address or workers or cluster:
        raise CLIError("--address, --workers and --cluster apply to the ray and submitit backends")
    return {}


def _print_status(path: Path) -> None:
    from bridge.sweep import load_sweep

    table = load_sweep(path).status()
    width = max(len(k) for k in table["key"]) if len(table) else 3
    for row in table.itertuples():
        typer.echo(f"{row.key:<{width}}  {row.status:<11}  {row.error}".rstrip())
    counts = table["status"].value_counts().to_dict()
    typer.echo(f"{len(table)} points: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))


@app.command("analyze")
def analyze_cmd(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    tracker: Annotated[list[str] | None, typer.Option("--tracker", help="tracker name (repeatable); default: the run's own trackers")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="drop the earlier rows of the observables written, not only those with the same index")] = False,
) -> None:
    """Compute trackers offline over every checkpoint of a run and append them to its metrics."""
    from bridge import analyze, load_run
    from bridge.trackers import get_tracker, tracker_names

    from bridge.runs.errors import RunError

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


@app.command("report")
def report_cmd(
    run_dir: Annotated[Path, typer.Argument(help="a case study's output directory, or a --seeds output (its seed report)")],
    rebuild: Annotated[bool, typer.Option("--rebuild", help="re-analyse the stored runs (no training) and rewrite the report")] = False,
) -> None:
    """Print a run's stored bridge report (``--rebuild`` recomputes it first); exits 1 on a verdict other than pass."""
    import json

    if rebuild:
        from case_studies import rebuild_report

        rebuild_report(run_dir)
    md, js = run_dir / "report.md", run_dir / "report.json"
    if not run_dir.is_dir():
        raise CLIError(f"{run_dir} is a file, not a run directory" if run_dir.exists() else f"run directory {run_dir} does not exist")
    if not (run_dir / "run.json").exists() and (run_dir / "seed_report.md").is_file() and (run_dir / "seed_report.json").is_file():
        md, js = run_dir / "seed_report.md", run_dir / "seed_report.json"  # `run --seeds`: the report over seeds
    if not md.exists() or not js.exists() or (md.name == "report.md" and not (run_dir / "run.json").exists()):
        raise CLIError(_no_report(run_dir))  # a report without its run.json has no record to check it against
    from bridge.runs.checksums import verify
    from bridge.runs.errors import CorruptFileError, RunError
    from bridge.runs.storage import read_json

    info = read_json(run_dir / "run.json") if (run_dir / "run.json").exists() else {}
    files = info.get("files") if isinstance(info, dict) else None
    if not isinstance(info, dict) or not isinstance(files, dict | None):
        raise RunError(f"{run_dir / 'run.json'} is not a run record (expected an object with a 'files' table)")
    if (run_dir / "run.json").exists() and "report.json" not in (files or {}):
        raise CLIError(f"{run_dir} has no finished report (run.json records none; writing it was interrupted): finish it with --resume or pass --rebuild")
    for name in ["report.json", "report.md", *sorted(set(files or {}) - {"report.json", "report.md"})]:
        try:
            verify(run_dir, files, name)  # the report and every file written with it, as recorded
        except CorruptFileError as e:
            hint = "" if name == "metrics.csv" else f"; `mechbridge report {run_dir} --rebuild` writes the report again from its runs"
            raise CorruptFileError(f"{e}{hint}") from None
    try:
        verdict = json.loads(js.read_text())["verdict"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CLIError(f"{js} is not a valid report ({e}); rebuild it with --rebuild") from None
    typer.echo(md.read_text())
    if verdict != "pass":
        raise typer.Exit(1)


def _no_report(run_dir: Path) -> str:
    """Why ``run_dir`` has no report to print, and what does have one."""
    from bridge.runs.lock import holder, is_stale
    from bridge.runs.storage import read_json

    if (run_dir / "sweep.json").is_file():
        return f"{run_dir} is a sweep directory, which has no report of its own: `mechbridge sweep --status {run_dir}` lists its points, and `mechbridge report {run_dir}/points/KEY` prints a point's"
    if (run_dir / "robustness.json").is_file():
        return f"{run_dir} is a robustness directory, which has no report of its own: its table is {run_dir / 'robustness.md'}, and `mechbridge report {run_dir}/NEIGHBOUR/seed-S` prints a run's"
    if (run_dir / "universality.json").is_file():
        return f"{run_dir} is a run over hidden widths, which has no report of its own: its row is in {run_dir / 'universality.json'}, and `mechbridge report {run_dir}/width-W` prints a width's seed report"
    if not (run_dir / "run.json").is_file():
        return f"{run_dir} is not a run directory (no run.json)"
    info = read_json(run_dir / "run.json")
    nested = run_dir.parent.name == "runs" and (run_dir.parent.parent / "run.json").is_file()  # a study's OUT/runs/<key>, resumed through OUT
    if isinstance(info, dict) and info.get("status") in ("running", "failed"):
        live = info["status"] == "running" and (lock := holder(run_dir)) is not None and not is_stale(lock)  # as Run.status reads it
        how = "it is still training (a live process holds its lock)" if live else f"its training {'failed' if info['status'] == 'failed' else 'was interrupted'} (last recorded step {info.get('last_step')}); finish it with `mechbridge run {info.get('case_study') or 'CASE'} --out {run_dir.parent.parent if nested else run_dir} --resume`"
        return f"{run_dir} has no report: {how}"
    if isinstance(info, dict) and not info.get("case_study"):
        within = f"; the report of the case study it belongs to is in {run_dir.parent.parent}" if nested else ""
        return f"{run_dir} holds a run that no case study wrote, so it has no report (bridge.load_run reads its metrics){within}"
    return f"{run_dir} has no report (run it through `mechbridge run`, finish it with --resume, or pass --rebuild)"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mechbridge`` console script; returns the exit code.

    ``argv`` are the command's arguments (``None``: the process's). An error the user can fix
    (an unknown name, a bad setting, a missing or damaged run directory) is one line on stderr,
    ``mechbridge: error: ...``, and exit code 2, never a traceback; a report that does not pass
    exits 1; Ctrl-C (SIGINT) prints one line saying so and exits 130.

    Examples:
        >>> main(["list"])  # doctest: +ELLIPSIS
        case studies:
          deep-linear          Saxe mode dynamics vs hierarchical differentiation in a deep linear network
        ...
        0
        >>> main(["run", "no-such-study"])  # stderr: mechbridge: error: unknown case study 'no-such-study' (known: ...)
        2
    """
    from bridge.config import ConfigError
    from bridge.runs.errors import CorruptFileError, RunError

    expected = (CLIError, ConfigError, RunError, CorruptFileError, FileExistsError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, ValueError)
    try:
        result = app(args=argv, standalone_mode=False, prog_name="mechbridge")
    except click.exceptions.NoArgsIsHelpError as e:
        print(e.format_message())
        return 0
    except click.exceptions.UsageError as e:
        _fail(e.format_message())
        return EXIT_ERROR
    except (typer.Abort, KeyboardInterrupt):
        _fail(INTERRUPTED)
        return EXIT_INTERRUPTED
    except typer.Exit as e:
        return e.exit_code
    except expected as e:
        _fail(str(e))
        return EXIT_ERROR
    except KeyError as e:
        _fail(str(e.args[0]) if e.args else "unknown key")
        return EXIT_ERROR
    if result == EXIT_INTERRUPTED:  # typer turns Ctrl-C into a silent exit 130 (no command exits so itself)
        _fail(INTERRUPTED)
    return result if isinstance(result, int) else 0  # typer.Exit(code) comes back as the return value


def _fail(message: str) -> None:
    line = " ".join(str(message).split())
    print(f"mechbridge: error: {line}", file=sys.stderr)


def console() -> None:
    """Console-script wrapper: exit with :func:`main`'s code."""
    sys.exit(main())


if __name__ == "__main__":
    console()
