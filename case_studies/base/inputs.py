"""What a case study's output folder and settings must be before any work: :func:`new_output` (a folder to
create, or one to resume), :func:`new_run_output` (the same for a study's main run, whose ``run.json`` must read)
and :func:`check_settings_take_effect` (no ``--set`` the study overrides). The output checks read the file system
alone (no torch), so the command line makes them before it imports the study's module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bridge.config import ConfigError
from case_studies.base import CaseStudy


def new_output(out: str | Path, resume: bool) -> Path:
    """``out`` as a path, checked before any work: a directory to create, or (with ``resume``) one to continue.

    Raises:
        ConfigError: ``out`` is a file.
        FileExistsError: ``out`` holds files and ``resume`` is false.

    Examples:
        >>> import tempfile; folder = Path(tempfile.mkdtemp())
        >>> new_output(folder / "new", resume=False) == folder / "new", new_output(folder, resume=False) == folder  # empty: fine
        (True, True)
        >>> (folder / "run.json").write_text("{}") and new_output(folder, resume=False)
        Traceback (most recent call last):
        ...
        FileExistsError: ... already exists and is not empty; choose another --out or pass --resume (from Python: another out, or resume=True)
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a directory")
    if out.exists() and any(out.iterdir()) and not resume:
        raise FileExistsError(f"{out} already exists and is not empty; choose another --out or pass --resume (from Python: another out, or resume=True)")
    return out


def new_run_output(out: str | Path, resume: bool) -> Path:
    """:func:`new_output` for the output of one seed of a case study (its main run's directory): with ``resume``, a
    ``run.json`` there must also be a run record, as :func:`bridge.load_run` reads it before the run is resumed.

    Raises:
        ConfigError, FileExistsError: as :func:`new_output`.
        CorruptFileError: with ``resume``, ``out/run.json`` is not JSON or not a run record.

    Examples:
        >>> import tempfile; folder = Path(tempfile.mkdtemp()); _ = (folder / "run.json").write_text("{nope")
        >>> new_run_output(folder, resume=True)
        Traceback (most recent call last):
        ...
        bridge.runs.errors.CorruptFileError: .../run.json is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))
    """
    from bridge.runs.run_json import read_record

    out = new_output(out, resume)
    if resume and (out / "run.json").exists():
        read_record(out)
    return out


def check_settings_take_effect(study: CaseStudy, preset: Any, settings: Sequence[str], seed: int = 0) -> None:
    """Refuse a ``model.``/``task.``/``train.`` setting the study overrides: one that changes no run
    of ``study`` while its runs hold another value at that field (a model's ``d_out`` that follows
    the task, say). A setting equal to what the study would use anyway (a field linked to another
    setting), a setting the study transforms (a learning rate it scales), and settings of the
    study's own fields (targets, sweeps) pass.

    Raises:
        ConfigError: naming the setting, before any work.

    Examples:
        >>> from case_studies.base import get_case_study
        >>> study = get_case_study("deep-linear")
        >>> check_settings_take_effect(study, study.presets["quick"], ["train.lr=0.05", "model.d_hidden=40"])
        >>> check_settings_take_effect(study, study.presets["quick"], ["model.d_out=5"])
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: --set model.d_out=5 changes no run of 'deep-linear': the study sets model.d_out itself (to 31)
    """
    import dataclasses

    from bridge.config import config_to_dict
    from bridge.overrides import apply

    def read(obj: Any, key: str) -> Any:
        for part in key.split("."):
            while not hasattr(obj, part) and dataclasses.is_dataclass(getattr(obj, "model", None)):
                obj = obj.model  # a wrapper's config (a lazy model's) holds the model it wraps
            if not hasattr(obj, part):
                return AttributeError
            obj = getattr(obj, part)
        return obj

    def as_dicts(runs: Mapping[str, Any]) -> dict:
        return {name: config_to_dict(cfg) for name, cfg in runs.items()}

    settings = list(settings)
    if not any(t.partition("=")[0].strip().split(".")[0] in ("model", "task", "train") for t in settings):
        return
    full = apply(preset, settings)
    full_runs = study.runs(full, seed)
    built_full = as_dicts(full_runs)  # once: each setting is compared with it
    for i, setting in enumerate(settings):
        key = setting.partition("=")[0].strip()
        if key.split(".")[0] not in ("model", "task", "train"):
            continue
        without = apply(preset, settings[:i] + settings[i + 1 :])
        requested = read(full, key)
        if requested == read(without, key) or as_dicts(study.runs(without, seed)) != built_full:
            continue  # the same value either way, or the runs change with it
        found = [read(cfg, key) for cfg in full_runs.values()]
        if not found or AttributeError in found or requested in found:
            continue  # a field the runs do not hold at that place, or hold as asked
        raise ConfigError(f"--set {setting} changes no run of {study.name!r}: the study sets {key} itself (to {', '.join(sorted({str(f) for f in found}))})")
