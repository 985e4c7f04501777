"""Case-study registry. A case study is an assembly of library parts plus presets.

Each module in this package registers itself with :func:`register` at import;
:func:`get_case_study` imports every module of the package first, so a new case
study is one new file.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.registry import Registry


@dataclass(frozen=True)
class CaseStudy:
    """A named case study.

    Attributes:
        name: CLI name (``deep-linear``).
        summary: one line for ``mechbridge list``.
        presets: preset name (``quick``, ``full``) → preset config (a frozen dataclass).
        run: ``run(preset_config, out_dir, seed, device, progress) -> BridgeReport``;
            writes the main run directory at ``out_dir`` (auxiliary runs under
            ``out_dir/runs/``), its ``report.json``, ``report.md`` and ``figures/``.
        analyse: optional ``analyse(run, preset_cfg, preset_name) -> BridgeReport``
            that rebuilds the report from a finished run (``mechbridge report``).
    """

    name: str
    summary: str
    presets: dict[str, Any]
    run: Callable[..., Any]
    analyse: Callable[..., Any] | None = None


CASE_STUDIES: Registry[CaseStudy] = Registry("case study")


def register(study: CaseStudy) -> CaseStudy:
    CASE_STUDIES.register(study.name)(study)
    return study


def _import_all() -> None:
    import case_studies

    for info in pkgutil.iter_modules(case_studies.__path__):
        if info.name != "base":
            importlib.import_module(f"case_studies.{info.name}")


def get_case_study(name: str) -> CaseStudy:
    """The case study registered as ``name`` (``KeyError`` naming the known ones)."""
    _import_all()
    return CASE_STUDIES.get(name)


def case_study_names() -> list[str]:
    _import_all()
    return CASE_STUDIES.names()


def run_case_study(name: str, preset: str, out: str | Path, *, seed: int = 0, device: str = "auto", progress: bool | None = None) -> Any:
    """Run case study ``name`` with ``preset`` into ``out``; returns its ``BridgeReport``."""
    study = get_case_study(name)
    if preset not in study.presets:
        raise KeyError(f"case study {name!r} has no preset {preset!r} (presets: {', '.join(study.presets)})")
    report = study.run(study.presets[preset], Path(out), seed=seed, device=device, progress=progress)
    _stamp(Path(out), name, preset)
    return report


def _stamp(out: Path, name: str, preset: str) -> None:
    """Record which case study and preset produced the run directory ``out``."""
    from bridge.storage import atomic_write_json, read_json

    file = out / "run.json"
    if file.exists():
        info = read_json(file)
        info.update(case_study=name, preset=preset)
        atomic_write_json(file, info)
