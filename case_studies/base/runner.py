"""The one place that trains, stamps and writes a case study.

:func:`run_case_study` owns every side effect once: it refuses an existing
output, validates every config before training, trains the main run into
``out`` and run ``key`` into ``out/runs/<key>``, stamps the case study, preset
and seed into the main run's ``run.json``, runs the offline analyses, and writes
``events.json``, ``report.json``, ``report.md`` and the figures.
:func:`rebuild_report` is the same path without training.

Examples:
    >>> import tempfile; from pathlib import Path
    >>> out = Path(tempfile.mkdtemp()) / "dl"
    >>> report = run_case_study("deep-linear", "quick", out, device="cpu", progress=False)  # seconds on one core
    >>> report.verdict, sorted(p.name for p in out.iterdir())
    ('pass', ['checkpoints', 'events.json', 'figures', 'metrics.csv', 'report.json', 'report.md', 'run.json'])
    >>> rebuild_report(out).to_dict() == report.to_dict()  # re-analysed from the files alone
    True
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from bridge.config import ConfigError
from bridge.runs.errors import Diverged
from case_studies.base import MAIN, CaseStudy, get_case_study, resolve_preset, run_dir
from case_studies.base.inputs import check_settings_take_effect, new_run_output

if TYPE_CHECKING:
    from bridge.config import RunConfig
    from bridge.report import BridgeReport
    from bridge.runs.run import Run


def run_case_study(
    name: str,
    preset: str | Any,
    out: str | Path,
    *,
    seed: int = 0,
    device: str = "auto",
    progress: bool | None = None,
    resume: bool = False,
    settings: Sequence[str] = (),
    loggers: Sequence[str] = (),
    backend: str | Any = "local",
    backend_options: Mapping[str, Any] | None = None,
    threads: int | None = None,
) -> BridgeReport:
    """Train every run of case study ``name`` into ``out``, analyse them and write the report.

    Args:
        name: a registered case study (``mechbridge list``).
        preset: a preset name (``"quick"``) or a preset object.
        settings: ``"key=value"`` changes to the preset by dotted path
            (``"train.lr=0.02"``), applied in order and recorded in ``run.json``.
        out: the main run directory; auxiliary runs go to ``out/runs/<key>``.
        seed: the seed of every run.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        progress: progress bars (``None``: only on a terminal).
        resume: continue the runs in ``out`` instead of refusing it.
        loggers: experiment loggers of every run (``"tensorboard"``, ``"wandb"``).
        backend: where the runs train: ``"local"`` (one after another in this process),
            ``"ray"`` or ``"submitit"`` (one job per run, :mod:`bridge.sweep.family`), or
            a backend object; the report is the same.
        backend_options: options of the backend (``address``, ``workers``, ``cluster``).
        threads: torch CPU threads of every run's training (its ``train.threads``); ``None``
            keeps each run's own.

    Returns:
        The :class:`~bridge.report.BridgeReport`, also written to ``out``.

    A run that diverges ends the study there: the report is ``invalid``, with one
    failed precondition that names the run and the step (``report.extra["diverged"]``).

    Raises:
        FileExistsError: ``out`` holds files and ``resume`` is false.
        CorruptFileError: with ``resume``, ``out/run.json`` is not a run record (before any training).
        ConfigError: a run config is invalid (before any training).

    Examples:
        >>> report = run_case_study("deep-linear", "quick", "runs/deep-linear", device="cpu")  # doctest: +SKIP
        >>> report.verdict, report.failed_claims  # doctest: +SKIP
        ('pass', [])
        >>> import tempfile; out = Path(tempfile.mkdtemp()); _ = (out / "notes.txt").write_text("mine")
        >>> run_case_study("deep-linear", "quick", out, progress=False)  # refused before training
        Traceback (most recent call last):
        ...
        FileExistsError: ... already exists and is not empty; choose another --out or pass --resume (from Python: another out, or resume=True)
    """
    from bridge.overrides import apply
    from bridge.training.inputs import resolve_device, validate
    from bridge.training.loggers import check_logger_names

    check_logger_names(loggers)
    if isinstance(backend, str) and backend != "local":
        from bridge.sweep.backends import get_backend

        get_backend(backend, **(backend_options or {}))  # an unknown backend or option stops here too
    study = get_case_study(name)
    preset_name, preset_obj = resolve_preset(study, preset)
    check_settings_take_effect(study, preset_obj, settings, seed)
    preset_obj = apply(preset_obj, settings)
    out = new_run_output(out, resume)
    resolve_device(device)
    configs = with_threads(study.runs(preset_obj, seed), threads)
    if MAIN not in configs and type(study).runs_after is CaseStudy.runs_after:
        raise ConfigError(f"case study {name!r} defines no {MAIN!r} run")
    for cfg in configs.values():
        validate(cfg)
    stamp = {"case_study": name, "preset": preset_name, "case_seed": seed, "settings": list(settings)}
    runs: dict[str, Run] = {}
    remote = backend != "local"
    key = MAIN  # the run being trained, named if it diverges

    def train_all(batch: Mapping[str, RunConfig]) -> None:
        nonlocal key
        if remote:
            from bridge.sweep.family import family_jobs, train_family

            jobs = family_jobs(train_study_run, (name, preset, tuple(settings), seed), list(batch), out, {key: cfg.train.threads for key, cfg in batch.items()}, device=device, loggers=tuple(loggers), threads=threads)
            train_family(backend, jobs, out, **(backend_options or {}))
        for key, cfg in batch.items():
            runs[key] = _train_run(study, preset_obj, key, cfg, out, stamp, device, progress, resume or remote, loggers)

    try:
        train_all(configs)
        later = with_threads(study.runs_after(preset_obj, seed, runs), threads)
        if set(later) & set(runs) or MAIN not in {*runs, *later}:
            raise ConfigError(f"case study {name!r}: runs_after must add new keys and the runs must include {MAIN!r} (got {sorted(later)} after {sorted(runs)})")
        for cfg in later.values():
            validate(cfg)
        train_all(later)
    except Diverged as e:
        return _diverged_report(study, preset_name, seed, out, key, e, settings)
    return _report(study, preset_name, preset_obj, seed, runs, progress)


def with_threads(configs: Mapping[str, RunConfig], threads: int | None) -> dict[str, RunConfig]:
    """``configs`` with every run's ``train.threads`` set to ``threads`` (``None``: as they are).

    Examples:
        >>> from case_studies.deep_linear import PRESETS, run_config
        >>> with_threads({"main": run_config(PRESETS["quick"], seed=0)}, 2)["main"].train.threads
        2
    """
    from bridge.training.loop import with_train

    return dict(configs) if threads is None else {key: with_train(cfg, threads=threads) for key, cfg in configs.items()}


def _diverged_report(study: CaseStudy, preset_name: str, seed: int, out: Path, key: str, error: Diverged, settings: Sequence[str]) -> BridgeReport:
    """The report of a case study whose run ``key`` diverged: invalid, saying where (nothing else can be judged)."""
    from bridge.match import check
    from bridge.report import BridgeReport

    row = check(f"run {key!r} trained without diverging", error.step, "a finite loss at every step", False, role="precondition", reason=f"diverged at step {error.step}: {error}")
    report = BridgeReport(study.name, preset_name, seed, checks=[row], notes=[f"run {key!r} diverged at step {error.step}: {error}"])
    report.extra |= {"settings": list(settings)} if settings else {}
    report.extra["diverged"] = {"run": key, "step": error.step}
    report.write(out)
    if (out / "run.json").exists():  # the main run (failed) records its report, which readers check
        from bridge.runs.run import load_run

        _record(load_run(out), ["report.json", "report.md"])
    return report


def train_study_run(name: str, preset: str | Any, settings: Sequence[str], seed: int, key: str, out: str | Path, *, device: str = "cpu", loggers: Sequence[str] = (), threads: int | None = None) -> None:
    """Train (or resume) run ``key`` of a case study into its place in ``out``, with its offline analyses.

    What a backend's worker runs for :func:`run_case_study` with ``backend="ray"``:
    the preset is rebuilt from ``preset`` and ``settings`` as the driver built it, and
    a run of :meth:`CaseStudy.runs_after` finds the runs it depends on in ``out``.

    Examples:
        >>> train_study_run("deep-linear", "quick", ["train.steps=200"], 0, "main", "runs/dl")  # doctest: +SKIP
        >>> from bridge import load_run; load_run("runs/dl").info["case_study"], load_run("runs/dl").steps[-1]  # doctest: +SKIP
        ('deep-linear', 200)
    """
    from bridge.overrides import apply
    from bridge.runs.run import load_run

    study = get_case_study(name)
    preset_name, preset_obj = resolve_preset(study, preset)
    preset_obj = apply(preset_obj, settings)
    out = Path(out)
    configs = with_threads(study.runs(preset_obj, seed), threads)
    if key not in configs:
        configs = with_threads(study.runs_after(preset_obj, seed, {k: load_run(run_dir(out, k)) for k in configs}), threads)
    stamp = {"case_study": name, "preset": preset_name, "case_seed": seed, "settings": list(settings)}
    _train_run(study, preset_obj, key, configs[key], out, stamp, device, False, True, loggers)


STAGING = ".main"  # where a main run trained after auxiliary runs is trained before it moves into ``out``


def _train_run(study: CaseStudy, preset: Any, key: str, cfg: RunConfig, out: Path, stamp: dict[str, Any], device: str, progress: bool | None, resume: bool, loggers: Sequence[str] = ()) -> Run:
    """Train run ``key`` (unless ``resume`` finds it complete with this config), stamp the main run, then run its offline analyses.

    The main run's ``run.json`` holds the stamp (study, preset, seed, settings) from its creation (:func:`bridge.train`'s
    ``info``), so a run killed while it trains names the command that resumes it.

    A complete run resumed with more ``train.steps`` is extended (:func:`bridge.train`) and analysed again.

    A main run trained after auxiliary runs (:meth:`CaseStudy.runs_after`) finds
    ``out`` holding ``runs/``: it is trained in ``out/.main`` and moved into ``out``
    once complete, or once it diverged (its ``run.json`` then records the report).
    """
    from bridge.runs.run import load_run
    from bridge.runs.storage import read_json
    from bridge.runs.versions import refuse_mixed_versions
    from bridge.training.analyze import analyze
    from bridge.training.inputs import extension
    from bridge.training.loop import train, with_loss_tracker

    folder, staging = run_dir(out, key), out / STAGING
    staged = read_json(staging / "run.json") if key == MAIN and resume and not (out / "run.json").exists() and (staging / "run.json").is_file() else {}
    if staged.get("status") == "complete" or (staged.get("status") == "failed" and str(staged.get("error")).startswith(f"{Diverged.__name__}:")):
        _move_in(staging, out)  # a kill while the finished (or diverged) main run was moved in: finish moving it
    finished = load_run(folder) if resume and (folder / "run.json").exists() else None
    finished = finished if finished is not None and finished.status == "complete" else None
    if finished is not None and extension(finished.info.get("config"), cfg, folder) is None:
        run = finished
    else:
        if finished is not None:  # to be extended with more steps: its analyses are redone once it is (a kill meanwhile keeps that)
            refuse_mixed_versions(folder, finished.info, with_loss_tracker(online_trackers(study, preset, key, stamp["case_seed"])), online=True)
            refuse_mixed_versions(folder, finished.info, [t for job in study.offline(preset, key, finished) for t in job.trackers], online=False)
            finished.update_info(offline_done=False)
        if key == MAIN and not (out / "run.json").exists() and (out / "runs").is_dir():
            try:
                train(cfg, staging, trackers=online_trackers(study, preset, key, stamp["case_seed"]), device=device, progress=progress, resume=resume, loggers=loggers, info=stamp)
            except Diverged:
                _move_in(staging, out)  # the diverged main run holds the study's record, as one trained first does
                raise
            _move_in(staging, out)
            run = load_run(out)
        else:
            run = train(cfg, folder, trackers=online_trackers(study, preset, key, stamp["case_seed"]), device=device, progress=progress, resume=resume, loggers=loggers, info=stamp if key == MAIN else None)
    if key == MAIN:  # in run.json from its creation (train's info); again for a run finished before it was
        run.update_info(**stamp)
    if not run.info.get("offline_done"):
        for job in study.offline(preset, key, run):
            analyze(run, list(job.trackers), steps=job.steps, progress=progress)
        run.update_info(offline_done=True)
    return run


def _move_in(staging: Path, out: Path) -> None:
    """Move a finished run from ``staging`` into ``out``, ``run.json`` last: ``out`` is a run once it is there."""
    for item in sorted(staging.iterdir(), key=lambda p: p.name == "run.json"):
        item.replace(out / item.name)
    staging.rmdir()


class _SeededTrackers(Protocol):
    """A study's ``trackers`` that declares ``seed`` (:meth:`CaseStudy.trackers` does not)."""

    def __call__(self, preset: Any, key: str, *, seed: int) -> list[Any]: ...


def online_trackers(study: CaseStudy, preset: Any, key: str, seed: int) -> list[Any]:
    """The study's online trackers of run ``key``, given ``seed`` when its ``trackers`` takes one.

    Examples:
        >>> study = get_case_study("deep-linear")
        >>> [type(t).__name__ for t in online_trackers(study, study.presets["quick"], "main", seed=0)]
        ['ModeTracker', 'DifferentiationTracker']
    """
    import inspect

    if "seed" in inspect.signature(study.trackers).parameters:
        return cast(_SeededTrackers, study.trackers)(preset, key, seed=seed)  # an override that declares seed, as read above
    return study.trackers(preset, key)


def rebuild_report(path: str | Path) -> BridgeReport:
    """Re-analyse a finished case-study output (no training) and rewrite its events, report and figures.

    Raises:
        RunError: ``path`` failed, is unfinished, or was not written by a case study.

    Examples:
        >>> rebuild_report("runs/deep-linear").verdict  # doctest: +SKIP
        'pass'
        >>> import tempfile; from bridge import RunConfig, TrainConfig, train; from bridge.models import DeepLinearConfig; from bridge.tasks import LinearTeacherConfig
        >>> run = train(RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(steps=2)), tempfile.mkdtemp() + "/run", device="cpu", progress=False)
        >>> rebuild_report(run.path)
        Traceback (most recent call last):
        ...
        bridge.runs.errors.RunError: .../run was not written by a case study (run.json names none); run it through `mechbridge run`
    """
    from bridge.runs.checkpoints import check_checkpoints
    from bridge.runs.run import RunError, load_run
    from bridge.runs.storage import CorruptFileError, read_json
    from bridge.training.analyze import check_run_config

    main = load_run(path)
    if main.status == "failed":
        raise RunError(f"{main.path} holds a run that failed ({main.info.get('error', 'no error recorded')}); its report.json says so, and there is nothing to re-analyse")
    if main.status in ("running", "interrupted"):
        state = "still being trained" if main.status == "running" else f"interrupted at step {main.info.get('last_step')}"
        raise RunError(f"{main.path} is {state}; finish it with `mechbridge run ... --resume` first")
    try:  # read as it is: a report that is damaged or unfinished is what a rebuild rewrites
        stored = read_json(main.path / "report.json") if (main.path / "report.json").is_file() else {}
    except (OSError, ValueError, CorruptFileError):
        stored = {}
    if diverged := (stored if isinstance(stored, dict) else {}).get("diverged"):  # an auxiliary run diverged: the main run is complete, its report is final
        raise RunError(f"{main.path}: its run {diverged.get('run')!r} diverged at step {diverged.get('step')}; its report.json says so, and there is nothing to re-analyse")
    name, preset_name = main.info.get("case_study"), main.info.get("preset")
    if not name or not preset_name:
        raise RunError(f"{main.path} was not written by a case study (run.json names none); run it through `mechbridge run`")
    _check_stamp(main)
    study = get_case_study(name)
    if preset_name not in study.presets:
        raise RunError(f"{main.path} was made with preset {preset_name!r}, which {name!r} no longer defines (presets: {', '.join(study.presets)})")
    from bridge.overrides import apply

    preset = apply(study.presets[preset_name], main.info.get("settings", []))
    seed = int(main.info.get("case_seed", main.config.seed))
    runs = {key: main if key == MAIN else load_run(run_dir(main.path, key)) for key in study.runs(preset, seed)}
    runs |= {key: main if key == MAIN else load_run(run_dir(main.path, key)) for key in study.runs_after(preset, seed, runs)}
    for run in runs.values():  # a damaged run is named before anything is written, also when the analysis would not read the file
        check_run_config(run)
        check_checkpoints(run.path, run.info.get("last_step") if run.status == "complete" else None)
    return _report(study, preset_name, preset, seed, runs)


def _check_stamp(main: Run) -> None:
    """Raise ``RunError`` naming ``run.json`` and the field if the case study's stamp has a wrong type."""
    from bridge.runs.errors import RunError

    kinds = {"case_study": (str,), "preset": (str,), "case_seed": (int,), "settings": (list,)}
    for field, types in kinds.items():
        value = main.info.get(field)
        if field in main.info and (not isinstance(value, types) or isinstance(value, bool)):
            raise RunError(f"{main.path / 'run.json'}: {field!r} must be {'a list of key=value strings' if field == 'settings' else 'an integer' if field == 'case_seed' else 'a name'}, got {value!r}")
    if not all(isinstance(s, str) for s in main.info.get("settings", [])):
        raise RunError(f"{main.path / 'run.json'}: 'settings' must be a list of key=value strings, got {main.info['settings']!r}")


def _report(study: CaseStudy, preset_name: str, preset: Any, seed: int, runs: Mapping[str, Run], progress: bool | None = None) -> BridgeReport:
    from bridge.progress import phases
    from bridge.report import _finite
    from bridge.runs.storage import atomic_write_json

    for phase in phases(("analyse", "figures"), f"{study.name} report", progress):  # seconds to minutes each (NTKs, sweeps inside an analysis)
        if phase == "analyse":
            report = study.analyse(runs, preset)
            report.case_study, report.preset, report.seed = study.name, preset_name, seed
            report.extra |= {k: list(runs[MAIN].info[k]) for k in ("settings", "extended") if runs[MAIN].info.get(k)}  # the changes and extensions it was trained with
            continue
        try:  # a figure that fails costs the figures, never the report of a finished run
            report.figures = study.figures(runs, report, preset)
        except Exception as error:  # noqa: BLE001 - any error of a figure
            report.figures = []
            reason = f"{type(error).__name__}: {error}"
            report.notes.append(f"figures not drawn: {reason}")
            warnings.warn(f"{study.name}: figures not drawn ({reason}); the report is written without them", RuntimeWarning, stacklevel=2)
    report.observations = None  # the analysis's measurements served the figures: a report kept per seed or neighbour does not hold them
    main = runs[MAIN]
    # standard JSON as report.json is (NaN and infinities as null): a diverged or all-zero model's numbers are not JSON
    atomic_write_json(main.path / "events.json", _finite([e.to_dict() if hasattr(e, "to_dict") else dict(e) for e in report.events], f"events of {study.name}"))
    for file, content in report.files.items():
        atomic_write_json(main.path / file, _finite(content, f"{file} of {study.name}"))
    report.write(main.path)
    # the record of the set is written last: a kill before it leaves files that do not match their record
    _record(main, ["events.json", "report.json", "report.md", *report.files, *report.figures])
    return report


def _record(run: Run, written: Sequence[str]) -> None:
    """Add the checksums of ``written`` (files in ``run``'s directory) to the record in its ``run.json``."""
    from bridge.runs.checksums import record

    run.update_info(files={**run.info.get("files", {}), **record(run.path, written)})
