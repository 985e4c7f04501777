"""The commands that run case studies: ``list`` (what there is to run), ``run`` (a case study, on one seed or
many), ``robustness`` (on neighbouring configurations of a preset) and ``sweep`` (over a grid of settings and
seeds), with the backend options that ``run``, ``robustness`` and ``sweep`` share.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bridge.cli.errors import CLIError


def list_cmd() -> None:
    """List case studies and trackers (imports none of them).

    Examples:
        >>> list_cmd()  # doctest: +ELLIPSIS
        case studies:
          deep-linear          Saxe mode dynamics vs hierarchical differentiation in a deep linear network
        ...
        trackers: coordinates, ..., weight_norm
    """
    from bridge.trackers import tracker_names
    from case_studies import case_study_names, summary

    typer.echo("case studies:")
    for name in case_study_names():
        typer.echo(f"  {name:<20} {summary(name)}")
    typer.echo("trackers: " + ", ".join(tracker_names()))


def run_cmd(
    case: Annotated[str, typer.Argument(metavar="CASE", help="case study name (see `mechbridge list`)")],
    preset: Annotated[str, typer.Option(metavar="PRESET", help="quick (CPU, minutes) or full (published scale)")] = "quick",
    out: Annotated[Path | None, typer.Option(metavar="DIR", help="output directory to create, default runs/CASE-PRESET-seedS (runs/CASE-PRESET-seedsA-B with --seeds); must not exist unless --resume")] = None,
    device: Annotated[str, typer.Option(metavar="auto|cpu|cuda", help="where to train: auto is CUDA when available, else the CPU")] = "auto",
    seed: Annotated[int | None, typer.Option(metavar="N", help="seed for data, initialisation and batch order (default 0)", min=0, max=2**63 - 1)] = None,
    seeds: Annotated[str | None, typer.Option(metavar="SEEDS", help="run every seed of a list such as 0-9 or 0,2,5 into --out/seed-<S> and write a seed report")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="continue the runs in --out from their last good checkpoints")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", metavar="PATH=VALUE", help="change a preset field by dotted path, e.g. train.lr=0.02 (repeatable; all are applied together)")] = None,
    steps: Annotated[int | None, typer.Option(metavar="N", help="training steps (the same as --set train.steps=N)", min=1)] = None,
    budget: Annotated[int | None, typer.Option(metavar="STEPS", help="train until the phenomenon appears: double train.steps while the report says 'not reached', up to this many steps", min=1)] = None,
    progress: Annotated[bool | None, typer.Option("--progress/--quiet", help="progress bars (default: only on a terminal; plain lines otherwise)")] = None,
    log: Annotated[list[str] | None, typer.Option("--log", metavar="tensorboard|wandb", help="stream metrics to tensorboard or wandb (offline) as they are written (repeatable)")] = None,
    stack: Annotated[bool, typer.Option("--stack/--no-stack", help="with --seeds: train the seeds of each run together, one vectorised step for all (local backend)")] = True,
    backend: Annotated[str, typer.Option(metavar="local|ray|submitit", help="where the study's runs train: local (one after another here), ray or submitit (one job per run)")] = "local",
    address: Annotated[str | None, typer.Option(metavar="ADDRESS", help="Ray cluster address (default: start Ray on this machine)")] = None,
    workers: Annotated[int | None, typer.Option(metavar="N", help="runs at once: CPUs of a local Ray, jobs at once on submitit", min=1)] = None,
    cluster: Annotated[str | None, typer.Option(metavar="slurm|local|debug", help="submitit cluster: slurm, local or debug (default: slurm if available)")] = None,
) -> None:
    """Run a case study end to end and write its run directories, report and figures; exits 1 unless it passes.

    Examples:
        >>> from bridge.cli.app import main
        >>> main(["run", "deep-linear", "--preset", "huge"])  # stderr: mechbridge: error: case study 'deep-linear' has no preset 'huge' (presets: quick, full)
        2
        >>> main(["run", "deep-linear", "--out", "runs/dl"])  # doctest: +SKIP
        deep-linear [quick, seed 0]: pass — report: runs/dl/report.md
        0
    """
    from bridge.sweep.grid import parse_seeds
    from case_studies.base import known_case_study
    from case_studies.base.inputs import new_output, new_run_output

    known_case_study(case)
    settings = list(set_ or []) + ([f"train.steps={steps}"] if steps is not None else [])
    backend_options = _backend_options(backend, address, workers, cluster)
    one_seed = 0 if seed is None else seed  # the seed of a single run (--seeds refuses --seed)
    if seeds is not None:
        if seed is not None:
            raise CLIError("give either --seed or --seeds, not both")
        if budget is not None:
            raise CLIError("--budget trains one seed until its phenomenon appears: give --seed with it, not --seeds")
        seed_list = parse_seeds(seeds)
        out = new_output(out or Path("runs") / f"{case}-{preset}-seeds{seeds}", resume)
    else:
        out = new_run_output(out or Path("runs") / f"{case}-{preset}-seed{one_seed}", resume)
    _check_preset(case, preset)  # what needs the study's module (torch) comes after what the arguments and files tell
    if seeds is not None:
        from case_studies.generality.seeds import run_seeds

        seed_report = run_seeds(case, preset, out, seed_list, device=device, resume=resume, settings=settings, progress=progress, stack=stack, loggers=list(log or []), backend=backend, backend_options=backend_options)
        passed = sum(v == "pass" for v in seed_report.verdicts.values())
        typer.echo(
            f"{case} [{preset}, seeds {seeds}]: {seed_report.verdict} — {passed} of {len(seed_list)} seeds pass "
            f"(threshold {seed_report.threshold:.2f}) — report: {out / 'seed_report.md'}"
        )
        if seed_report.verdict != "pass":
            raise typer.Exit(1)
        return
    if budget is not None:
        from case_studies.generality.budget import run_until

        report = run_until(case, preset, out, cap=budget, seed=one_seed, device=device, resume=resume, settings=settings, progress=progress, loggers=list(log or []), backend=backend, backend_options=backend_options)
    else:
        from case_studies import run_case_study

        report = run_case_study(case, preset, out, seed=one_seed, device=device, resume=resume, settings=settings, progress=progress, loggers=list(log or []), backend=backend, backend_options=backend_options)
    why = ""
    if report.verdict == "invalid":
        why = f" (preconditions failed: {', '.join(report.failed_preconditions) or 'no counted claim'})"
    elif report.verdict in ("partial", "fail"):
        why = f" (claims failed: {', '.join(report.failed_claims)})"
    longer = f", trained to {report.extra['extended'][-1]['to']} steps" if report.extra.get("extended") else ""
    typer.echo(f"{case} [{preset}, seed {one_seed}{longer}]: {report.verdict}{why} — report: {out / 'report.md'}")
    if report.verdict != "pass":
        raise typer.Exit(1)


def robustness_cmd(
    case: Annotated[str, typer.Argument(metavar="CASE", help="case study name (see `mechbridge list`)")],
    preset: Annotated[str, typer.Option(metavar="PRESET", help="the preset whose neighbours are run")] = "quick",
    neighbours: Annotated[int, typer.Option(metavar="N", help="how many neighbouring configurations", min=1)] = 8,
    seeds: Annotated[str, typer.Option(metavar="SEEDS", help="seeds of every neighbour, e.g. 0-2")] = "0-2",
    draw_seed: Annotated[int, typer.Option(metavar="N", help="seed of the draw of neighbours", min=0)] = 0,
    out: Annotated[Path | None, typer.Option(metavar="DIR", help="output directory to create, default runs/CASE-PRESET-robustness; must not exist unless --resume")] = None,
    device: Annotated[str, typer.Option(metavar="auto|cpu|cuda", help="where to train: auto is CUDA when available, else the CPU")] = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="read the neighbours already done instead of refusing --out")] = False,
    progress: Annotated[bool | None, typer.Option("--progress/--quiet", help="progress bars (default: only on a terminal)")] = None,
    backend: Annotated[str, typer.Option(metavar="local|ray|submitit", help="where the neighbours run: local (one after another here), ray or submitit (one job per neighbour and seed)")] = "local",
    address: Annotated[str | None, typer.Option(metavar="ADDRESS", help="Ray cluster address (default: start Ray on this machine)")] = None,
    workers: Annotated[int | None, typer.Option(metavar="N", help="jobs at once: CPUs of a local Ray, jobs at once on submitit", min=1)] = None,
    cluster: Annotated[str | None, typer.Option(metavar="slurm|local|debug", help="submitit cluster: slurm, local or debug (default: slurm if available)")] = None,
    budget: Annotated[int | None, typer.Option(metavar="STEPS", help="train every neighbour until its phenomenon appears, doubling train.steps up to this many", min=1)] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", metavar="PATH=VALUE", help="change the preset before each neighbour's settings, e.g. train.warmup=100 (repeatable)")] = None,
) -> None:
    """Run a case study on neighbouring configurations of a preset and write robustness.json and robustness.md (`mechbridge report OUT` prints the table); exits 1 unless every run passes.

    Examples:
        >>> from bridge.cli.app import main
        >>> main(["robustness", "deep-linear", "--seeds", "2-0"])  # stderr: mechbridge: error: --seeds range '2-0' runs backwards
        2
        >>> main(["robustness", "deep-linear", "--neighbours", "4", "--seeds", "0-1", "--out", "runs/dl-robust"])  # doctest: +SKIP
        deep-linear [quick, 4 neighbours × seeds 0-1]: 8 of 8 runs pass — runs/dl-robust/robustness.md
        0
    """
    from bridge.sweep.grid import parse_seeds
    from case_studies.base import known_case_study
    from case_studies.generality.robustness import robustness_output, run_robustness

    known_case_study(case)
    options = _backend_options(backend, address, workers, cluster)
    seed_list = parse_seeds(seeds)
    out = robustness_output(out or Path("runs") / f"{case}-{preset}-robustness", resume)
    _check_preset(case, preset)  # what needs the study's module (torch) comes after what the arguments and files tell
    if backend == "submitit":
        options["folder"] = str(out / ".submitit")
    table = run_robustness(
        case, preset, out, n_neighbours=neighbours, seeds=seed_list, draw_seed=draw_seed, device=device, progress=progress, resume=resume, backend=backend, backend_options=options, budget=budget, settings=list(set_ or [])
    )
    passed = sum(r["verdict"] == "pass" for r in table["runs"])
    typer.echo(f"{case} [{preset}, {len(table['neighbours'])} neighbours × seeds {seeds}]: {passed} of {len(table['runs'])} runs pass — {out / 'robustness.md'}")
    if passed < len(table["runs"]):  # as `report OUT` exits on the same table
        raise typer.Exit(1)


def sweep_cmd(
    case: Annotated[str | None, typer.Argument(metavar="CASE", help="case study name (see `mechbridge list`)")] = None,
    preset: Annotated[str, typer.Option(metavar="PRESET", help="the preset every point starts from")] = "quick",
    grid: Annotated[list[str] | None, typer.Option("--grid", metavar="PATH=VALUES", help="an axis: dotted field and values, e.g. train.lr=1e-3,3e-3 (repeatable; a tuple value is [1,2])")] = None,
    seeds: Annotated[str | None, typer.Option(metavar="SEEDS", help="seeds of every point: A-B or a list, e.g. 0-7")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", metavar="PATH=VALUE", help="change a preset field for every point, e.g. train.steps=500 (repeatable)")] = None,
    backend: Annotated[str, typer.Option(metavar="local|ray|submitit", help="local (this process), ray or submitit")] = "local",
    address: Annotated[str | None, typer.Option(metavar="ADDRESS", help="Ray cluster address (default: start Ray on this machine)")] = None,
    workers: Annotated[int | None, typer.Option(metavar="N", help="points at once: CPUs of a local Ray, jobs at once on submitit", min=1)] = None,
    cluster: Annotated[str | None, typer.Option(metavar="slurm|local|debug", help="submitit cluster: slurm, local or debug (default: slurm if available)")] = None,
    threads: Annotated[int, typer.Option(metavar="N", help="torch threads (and CPUs reserved) per point", min=1)] = 1,
    device: Annotated[str, typer.Option(metavar="auto|cpu|cuda", help="where to train: auto is CUDA when available, else the CPU")] = "cpu",
    out: Annotated[Path | None, typer.Option(metavar="DIR", help="sweep directory, default sweeps/CASE-PRESET (re-run the same command to resume it)")] = None,
    status: Annotated[Path | None, typer.Option("--status", metavar="DIR", help="print the state of every point of a sweep directory and exit")] = None,
    progress: Annotated[bool | None, typer.Option("--progress/--quiet", help="progress over points (default: a bar on a terminal, plain lines otherwise)")] = None,
    log: Annotated[list[str] | None, typer.Option("--log", metavar="tensorboard|wandb", help="stream every run's metrics to tensorboard or wandb (offline) (repeatable)")] = None,
) -> None:
    """Run a case study over a grid of settings and seeds; each point is an ordinary case-study output. Exits 1
    unless every point is done; ``--status DIR`` prints each point's state instead.

    Examples:
        >>> from bridge.cli.app import main
        >>> main(["sweep", "deep-linear"])  # stderr: mechbridge: error: a sweep needs at least one --grid axis or --seeds
        2
        >>> main(["sweep", "deep-linear", "--grid", "train.lr=0.02,0.04", "--seeds", "0-1", "--out", "sweeps/dl-lr"])  # doctest: +SKIP
        deep-linear [quick] sweep of 4 points: 4 done — results: sweeps/dl-lr/results.csv
        0
    """
    if status is not None:
        options = [("CASE", case), ("--preset", preset != "quick"), ("--grid", grid), ("--seeds", seeds), ("--set", set_), ("--backend", backend != "local"), ("--address", address),
                   ("--workers", workers), ("--cluster", cluster), ("--threads", threads != 1), ("--device", device != "cpu"), ("--out", out), ("--log", log)]
        given = [name for name, value in options if value]  # those with a default: when another value is given
        if given:  # a sweep's command with --status added would print a state and train nothing
            raise CLIError(f"--status DIR prints a sweep's state and trains nothing; it takes no {', '.join(given)} (drop --status to run the sweep)")
        _print_status(status)
        return
    if case is None:
        raise CLIError("name a case study to sweep, or pass --status DIR")
    from bridge.sweep import parse_grid_option, parse_seeds, run_sweep
    from bridge.sweep.runner import check_sweep_dir
    from case_studies.base import known_case_study

    parsed = [parse_grid_option(g) for g in grid or []]
    axes = dict(parsed)
    if len(axes) < len(parsed):
        repeated = sorted({k for k, _ in parsed if [key for key, _ in parsed].count(k) > 1})
        raise CLIError(f"--grid {repeated[0]} is given more than once; list all its values in one axis ({repeated[0]}=v1,v2)")
    both = [s for s in set_ or [] if s.partition("=")[0].strip() in axes]
    if both:  # the grid's value would replace the setting at every point, silently
        key = both[0].partition("=")[0].strip()
        raise CLIError(f"--set {both[0].strip()} and --grid {key}=... both set {key}: every point would take the grid's value; give {key} in one of them")
    seed_list = parse_seeds(seeds) if seeds is not None else None
    if not axes and seed_list is None:
        raise CLIError("a sweep needs at least one --grid axis or --seeds")
    backend_options = _backend_options(backend, address, workers, cluster)
    out = out or Path("sweeps") / f"{case}-{preset}"
    known_case_study(case)
    check_sweep_dir(out)  # before run_sweep imports the study's module (torch) to check the preset
    result = run_sweep(case, out, grid=axes, seeds=seed_list, preset=preset, settings=list(set_ or []), backend=backend, device=device, threads=threads, progress=progress, loggers=list(log or []), **backend_options)
    states = result.status()["status"].value_counts().to_dict()
    typer.echo(f"{case} [{preset}] sweep of {len(result.keys)} point{'s' if len(result.keys) != 1 else ''}: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())) + f" — results: {out / 'results.csv'}")
    if states.get("done", 0) != len(result.keys):
        raise typer.Exit(1)


def _check_preset(case: str, preset: str) -> None:
    """Refuse a preset case study ``case`` does not define, naming the ones it does (imports the study's module)."""
    from case_studies.base import get_case_study, resolve_preset

    resolve_preset(get_case_study(case), preset)


def _backend_options(backend: str, address: str | None, workers: int | None, cluster: str | None) -> dict[str, Any]:
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
    typer.echo(f"{len(table)} point{'s' if len(table) != 1 else ''}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
