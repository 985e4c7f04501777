"""The case-study contract: what a case study defines, and the registry of case studies.

A case study is a small class over library parts (``runs`` and ``analyse`` are abstract):

- ``presets``: preset name → a frozen preset (nesting task, model, train and
  SGLD configs and a ``Targets`` dataclass);
- ``runs(preset, seed) -> {key: RunConfig}``: the main run (key ``"main"``)
  and every auxiliary run (a control, step sizes, sweep points);
- ``runs_after(preset, seed, runs) -> {key: RunConfig}``: runs whose configs
  depend on finished runs of ``runs`` (e.g. the main run retrained from the
  best of several candidates), trained after them (default: none);
- ``trackers(preset, key) -> [Tracker]``: online trackers of run ``key`` (a study whose
  trackers are seeded declares ``trackers(preset, key, seed)`` and gets the run's seed);
- ``offline(preset, key, run) -> [Offline]``: analyses computed over a
  finished run's checkpoints and appended to its metrics (default: none);
- ``analyse(runs, preset) -> BridgeReport``: pure, reads the runs, writes
  nothing; the events to store go in ``report.events``, and what it measured
  that the figures draw too in ``report.observations`` (kept in memory only);
- ``figures(runs, report, preset) -> [path]``: draws into the main run's
  ``figures/`` and returns paths relative to the main run, reusing
  ``report.observed(measure)``;
- over seeds (:mod:`case_studies.generality.seeds`): ``seed_pass_fraction``, the fraction of seeds
  that must pass, ``across_seeds(outs, preset) -> [Check]``, rows judged on every seed's output
  at once (default: none), and ``universal``, the names of rows that must pass in every seed;
- ``family``: preset field (dotted path) → values a researcher would try (robustness runs neighbours from it).

A case study has no side effects of its own: :func:`case_studies.base.runner.run_case_study`
trains its runs, stamps them, runs the offline analyses and writes the report.

Examples:
    >>> from case_studies import get_case_study
    >>> study = get_case_study("deep-linear")
    >>> sorted(study.runs(study.presets["quick"], seed=0))
    ['main']
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from bridge.registry import Registry
from case_studies.base.targets import target_domains  # noqa: F401 (every study's Targets declares its domains with it)

if TYPE_CHECKING:  # the runner imports these when it runs, so listing case studies stays light
    from bridge.config import RunConfig
    from bridge.report import BridgeReport
    from bridge.runs.run import Run

MAIN = "main"


@dataclass(frozen=True)
class Offline:
    """An analysis over a finished run's checkpoints: ``trackers`` at ``steps`` (``None``: every checkpoint).

    What :meth:`CaseStudy.offline` returns; the runner measures each after the run trains and
    appends the rows to its metrics.

    Examples:
        >>> from bridge.trackers.kernel import KernelTracker
        >>> Offline([KernelTracker(n_probe=64)], steps=[0, 4000]).steps
        [0, 4000]
    """

    trackers: Sequence[Any]
    steps: Sequence[int] | None = None


class CaseStudy(ABC):
    """Base class of every case study (the module docstring gives the contract; the docs page "Write a case study" builds one).

    Examples:
        >>> from bridge.config import RunConfig, TrainConfig
        >>> from bridge.models import DeepLinearConfig
        >>> from bridge.report import BridgeReport
        >>> from bridge.tasks import LinearTeacherConfig
        >>> class Tiny(CaseStudy):  # unregistered: `register("tiny")` would make `mechbridge run tiny` train it
        ...     name, presets = "tiny", {"quick": TrainConfig(steps=2)}
        ...     def runs(self, preset, seed):
        ...         return {"main": RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), preset, seed=seed)}
        ...     def analyse(self, runs, preset):
        ...         return BridgeReport(self.name, "quick", runs["main"].config.seed)
        >>> {key: cfg.train.steps for key, cfg in Tiny().runs(Tiny.presets["quick"], seed=0).items()}, Tiny.seed_pass_fraction
        ({'main': 2}, 0.8)
    """

    name: ClassVar[str]
    presets: ClassVar[Mapping[str, Any]]
    seed_pass_fraction: ClassVar[float] = 0.8
    universal: ClassVar[tuple[str, ...]] = ()
    family: ClassVar[Mapping[str, Sequence[Any]]] = {}

    @abstractmethod
    def runs(self, preset: Any, seed: int) -> dict[str, RunConfig]:
        """The run configs of one seed: ``{"main": ..., "<key>": ...}``."""

    def runs_after(self, preset: Any, seed: int, runs: Mapping[str, Run]) -> dict[str, RunConfig]:
        """Runs whose configs depend on the finished runs of :meth:`runs` (trained after them; default none)."""
        return {}

    def trackers(self, preset: Any, key: str) -> list[Any]:
        """Online trackers of run ``key`` (declare a third parameter ``seed`` to get the run's seed)."""
        return []

    def offline(self, preset: Any, key: str, run: Run) -> list[Offline]:
        """Offline analyses of the finished run ``key`` (appended to its metrics)."""
        return []

    @abstractmethod
    def analyse(self, runs: Mapping[str, Run], preset: Any) -> BridgeReport:
        """The bridge report of finished runs; reads them and writes nothing."""

    def figures(self, runs: Mapping[str, Run], report: BridgeReport, preset: Any) -> list[str]:
        """Draw the figures into ``runs["main"].figures_dir``; return their paths relative to the main run."""
        return []

    def across_seeds(self, outs: Mapping[int, Path], preset: Any) -> list[Any]:
        """Rows judged on every seed's finished output at once (seed → its ``out``; default none)."""
        return []


CASE_STUDIES: Registry[type[CaseStudy]] = Registry("case study")


_S = TypeVar("_S", bound=type[CaseStudy])  # a case study class, given back as itself by its decorator


def register(name: str) -> Callable[[_S], _S]:
    """Class decorator: register a :class:`CaseStudy` subclass under ``name`` (its ``name`` attribute).

    The page "Write a case study" registers a complete one.

    Examples:
        >>> @register("doc-example")
        ... class Nothing(CaseStudy):
        ...     presets = {"quick": None}
        ...     def runs(self, preset, seed): return {}
        ...     def analyse(self, runs, preset): return None
        >>> Nothing.name, "doc-example" in case_study_names(), type(get_case_study("doc-example")).__name__
        ('doc-example', True, 'Nothing')
    """

    def add(cls: _S) -> _S:
        cls.name = name
        CASE_STUDIES.register(name)(cls)  # the registry gives back the class it holds: this one
        return cls

    return add


def get_case_study(name: str) -> CaseStudy:
    """A new instance of the case study registered as ``name`` (``KeyError`` naming the known ones).

    Examples:
        >>> study = get_case_study("kernel-limit"); study.name, sorted(study.presets)
        ('kernel-limit', ['full', 'quick'])
        >>> get_case_study("teacher-modes")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        KeyError: "unknown case study 'teacher-modes' (known: deep-linear, ...); a case study of your own is known once the module that registers it is imported (`import MODULE`, or `mechbridge --import MODULE`)"
    """
    return CASE_STUDIES.get(known_case_study(name))()


def known_case_study(name: str) -> str:
    """``name`` once it is found registered as a case study, without importing the study's module (the command
    line checks the name before work that needs the module); ``KeyError`` naming the known ones otherwise.

    Examples:
        >>> known_case_study("grokking")
        'grokking'
        >>> known_case_study("teacher-modes")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        KeyError: "unknown case study 'teacher-modes' (known: deep-linear, ...); a case study of your own is known once ..."
    """
    try:
        return CASE_STUDIES.check(name)
    except KeyError as e:
        raise KeyError(f"{e.args[0]}; a case study of your own is known once the module that registers it is imported (`import MODULE`, or `mechbridge --import MODULE`)") from None


def case_study_names() -> list[str]:
    """Names of every registered case study (imports none of them).

    Examples:
        >>> {"deep-linear", "grokking", "kernel-limit"} <= set(case_study_names())
        True
    """
    return CASE_STUDIES.names()


def run_dir(out: str | Path, key: str) -> Path:
    """Where run ``key`` of a case study with output ``out`` lives: ``out`` itself for the main run.

    Examples:
        >>> run_dir("runs/kl", "main").as_posix(), run_dir("runs/kl", "alpha_0.3").as_posix()
        ('runs/kl', 'runs/kl/runs/alpha_0.3')
    """
    return Path(out) if key == MAIN else Path(out) / "runs" / key


def resolve_preset(study: CaseStudy, preset: str | Any) -> tuple[str, Any]:
    """``(name, preset)`` from a preset name or a preset object (named ``"custom"`` unless it is one of the study's).

    Raises:
        KeyError: a preset name the study does not define, naming the ones it does.

    Examples:
        >>> import dataclasses; study = get_case_study("deep-linear")
        >>> resolve_preset(study, "quick")[0], resolve_preset(study, dataclasses.replace(study.presets["quick"]))[0]
        ('quick', 'quick')
        >>> resolve_preset(study, dataclasses.replace(study.presets["quick"], train=dataclasses.replace(study.presets["quick"].train, steps=900)))[0]
        'custom'
    """
    if isinstance(preset, str):
        if preset not in study.presets:
            raise KeyError(f"case study {study.name!r} has no preset {preset!r} (presets: {', '.join(study.presets)})")
        return preset, study.presets[preset]
    return next((k for k, v in study.presets.items() if v == preset), "custom"), preset
