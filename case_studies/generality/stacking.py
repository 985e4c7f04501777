"""Every seed of a case study's runs trained at once: :func:`stack_seed_runs` (what ``run_seeds`` does first), each seed in its folder (:func:`seed_dir`).

Examples:
    >>> from case_studies.generality.stacking import stack_seed_runs
    >>> callable(stack_seed_runs)
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bridge.config import ConfigError
from bridge.runs.errors import Diverged

__all__ = ["seed_dir", "stack_seed_runs"]


def seed_dir(out: str | Path, seed: int) -> Path:
    """Where seed ``seed`` of a seed run with output ``out`` lives.

    Examples:
        >>> seed_dir("dl-seeds", 3).as_posix()
        'dl-seeds/seed-3'
    """
    return Path(out) / f"seed-{seed}"


def stack_seed_runs(study: Any, preset: Any, seeds: Sequence[int], out: str | Path, *, device: str = "auto", progress: bool | None = None, loggers: Sequence[str] = ()) -> list[str]:
    """Train every run of ``study`` whose configs differ only in the seed for all ``seeds`` at once.

    Run ``key`` of seed ``S`` goes where :func:`~case_studies.base.runner.run_case_study` puts it
    (``out/seed-S`` for the main run, ``out/seed-S/runs/<key>`` otherwise), trained by
    :func:`bridge.training.seeds.train_seeds` with the study's online trackers and ``loggers`` of each seed;
    a case-study run with ``resume`` then finds it complete. Runs that cannot be stacked
    (configs that differ beyond the seed, tasks whose loss depends on it) are left to the
    seeds' own studies, and so is a stack that diverges: each seed resumes its run alone.

    Returns:
        The keys of the runs trained here.

    Examples:
        >>> from case_studies import get_case_study
        >>> study = get_case_study("deep-linear")
        >>> stack_seed_runs(study, study.presets["quick"], [0, 1, 2], "runs/dl-seeds")  # doctest: +SKIP
        ['main']
    """
    import dataclasses

    from bridge.training.seeds import train_seeds
    from case_studies.base import MAIN, run_dir
    from case_studies.base.runner import online_trackers

    per_seed = {s: study.runs(preset, s) for s in seeds}
    done = []
    for key in sorted(per_seed[seeds[0]], key=lambda k: k != MAIN):  # the main run first: the others live inside it
        first = per_seed[seeds[0]][key]
        configs = [per_seed[s].get(key) for s in seeds]
        if any(c is None or dataclasses.replace(c, seed=first.seed) != first for c in configs) or len({c.seed for c in configs}) < len(seeds):
            continue
        folders = [run_dir(seed_dir(out, s), key) for s in seeds]
        case_seed = {c.seed: s for c, s in zip(configs, seeds)}  # a run's seed may be derived from the study's
        try:
            train_seeds(first, list(case_seed), out, folders=folders, trackers=lambda seed, key=key, case_seed=case_seed: online_trackers(study, preset, key, case_seed[seed]), device=device, progress=progress, loggers=loggers)
        except (ConfigError, Diverged):
            continue
        done.append(key)
    return done
