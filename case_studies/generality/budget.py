"""Train a case study until its phenomenon appears, or until a cap on its steps.

A phenomenon that needs more steps than the preset gives makes the report say
"not reached within N steps" (a failed precondition, :attr:`BridgeReport.not_reached`),
which is not the same as a claim that failed. :func:`run_until` runs the case study
and, while its report says so, doubles ``train.steps`` (up to ``cap``), continues every
run that trains for ``train.steps`` from its last checkpoint, and analyses again. The
runs keep the checkpoints of the shorter budget; ``run.json`` records each extension
(``"extended"``) and the settings of the last one.

Examples:
    >>> from case_studies.generality.budget import budget_steps
    >>> budget_steps(2500, 12000)
    [2500, 5000, 10000, 12000]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.config import ConfigError

if TYPE_CHECKING:
    from bridge.report import BridgeReport


def budget_steps(steps: int, cap: int) -> list[int]:
    """The training lengths tried in turn: ``steps``, then doubling, the last one ``cap``.

    Raises:
        ConfigError: ``steps`` or ``cap`` is not a positive integer, or ``cap`` is below ``steps``.

    Examples:
        >>> budget_steps(2500, 12000), budget_steps(600, 600)
        ([2500, 5000, 10000, 12000], [600])
    """
    for what, value in (("train.steps", steps), ("budget cap", cap)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"the {what} must be a positive integer number of steps, got {value!r}")
    if cap < steps:
        raise ConfigError(f"the budget cap ({cap} steps) is below the preset's train.steps ({steps}); give a cap of at least {steps}")
    out = [steps]
    while out[-1] < cap:
        out.append(min(cap, 2 * out[-1]))
    return out


def preset_steps(name: str, preset: Any) -> int:
    """The ``train.steps`` of case study ``name``'s ``preset``: what a budget extends.

    Raises:
        ConfigError: the preset has none.

    Examples:
        >>> from case_studies import get_case_study
        >>> preset_steps("deep-linear", get_case_study("deep-linear").presets["quick"])
        600
    """
    steps = getattr(getattr(preset, "train", None), "steps", None)
    if not isinstance(steps, int):
        raise ConfigError(f"case study {name!r} has no train.steps to extend; it cannot train until its phenomenon appears")
    return steps


def run_until(name: str, preset: str | Any, out: str | Path, *, cap: int, seed: int = 0, settings: Sequence[str] = (), resume: bool = False, **options: Any) -> BridgeReport:
    """Run case study ``name`` into ``out``, training longer until its phenomenon appears or ``cap`` steps.

    Args:
        name, preset, out, seed, settings, resume: as for :func:`~case_studies.base.runner.run_case_study`.
        cap: the most ``train.steps`` any attempt trains for.
        **options: the other keyword arguments of :func:`~case_studies.base.runner.run_case_study`.

    Returns:
        The report of the last attempt: the first whose phenomenon appeared, or the one at ``cap``
        (then it says "not reached within ``cap`` steps").

    Raises:
        ConfigError: the preset has no ``train.steps``, ``cap`` is below it, or (resuming) below the steps
            the runs in ``out`` were trained for (before any work).

    Examples:
        >>> report = run_until("grokking", "quick", "runs/grok-until", cap=10_000)  # doctest: +SKIP
        >>> report.not_reached  # doctest: +SKIP
        False
    """
    from bridge.overrides import apply
    from bridge.runs.run import load_run
    from case_studies.base import get_case_study, resolve_preset
    from case_studies.base.runner import run_case_study

    study = get_case_study(name)
    steps = preset_steps(name, apply(resolve_preset(study, preset)[1], settings))
    lengths = budget_steps(steps, cap)
    if resume and (Path(out) / "run.json").exists():  # a budget resumed: start from the length the runs already have
        trained = load_run(out).info.get("config", {}).get("train", {}).get("steps", steps)
        if isinstance(trained, bool) or not isinstance(trained, int):  # 1e9 left no length to train, and "600" broke the comparison
            raise ConfigError(f"{out}/run.json records train.steps = {trained!r}, not a whole number of steps: it cannot be resumed with a budget")
        if trained > cap:  # a run is extended, never shortened
            raise ConfigError(f"{out} was trained for {trained} steps, beyond the budget cap of {cap}: resume it with a cap of at least {trained} (--budget {trained})")
        lengths = [n for n in lengths if n >= trained]  # holds the cap, which is at least trained
    for i, n in enumerate(lengths):
        more = [] if n == steps else [f"train.steps={n}"]
        report = run_case_study(name, preset, out, seed=seed, settings=[*settings, *more], resume=resume or i > 0, **options)
        if not report.not_reached or n == lengths[-1]:
            return report
    raise AssertionError("budget_steps gives at least one length to train")  # lengths ends on the cap
