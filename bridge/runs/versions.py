"""Definition versions of trackers: what a run records of the trackers whose rows it holds, and the check
that refuses to append rows of one definition to rows of another.

A tracker class declares ``version``, an integer (1 when absent: the first definition), raised whenever
what its rows mean changes (not when their computation gets faster, or an input is refused). ``run.json``
records ``tracker_versions`` (tracker name → version) of every tracker whose rows the run holds: the online
ones when training starts, the offline ones when an analysis writes them. A run written before versions
were recorded has no such record: every tracker's rows it holds are of version 1. Such a run, once a
resume or an analysis records versions in it, keeps ``tracker_versions_default: 1`` for the trackers its
record does not name; a run with a record and no default holds no rows of a tracker its record does not name.

Examples:
    >>> class Old: name, version = "modes", 1
    >>> class New: name, version = "modes", 2
    >>> refuse_mixed_versions("runs/a", {"tracker_versions": {"modes": 1}}, [Old()], online=True)
    >>> refuse_mixed_versions("runs/a", {}, [New()], online=True)  # a run written before versions were recorded
    Traceback (most recent call last):
    ...
    bridge.runs.errors.RunError: cannot extend or resume runs/a: its rows of tracker 'modes' are of definition version 1, this code's are of version 2, and the two would mix in one table; train anew into another directory
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bridge.runs.errors import CorruptFileError, RunError

VERSIONS = "tracker_versions"
DEFAULT = "tracker_versions_default"

__all__ = ["DEFAULT", "VERSIONS", "current_versions", "recorded_version", "recorded_versions", "refuse_mixed_versions", "tracker_version", "versions_record"]


def tracker_version(tracker: Any) -> int:
    """The definition version ``tracker`` declares (its ``version``; 1 when it declares none).

    Raises:
        ValueError: ``version`` is not a positive integer, naming the tracker and the value.

    Examples:
        >>> from bridge.trackers import LossTracker, ModeTracker
        >>> tracker_version(LossTracker()), tracker_version(ModeTracker())
        (1, 2)
    """
    version = getattr(tracker, "version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"tracker {getattr(tracker, 'name', tracker)!r}: version must be a positive integer (its definition's number), got {version!r}")
    return version


def current_versions(trackers: Sequence[Any]) -> dict[str, int]:
    """``{name: version}`` of ``trackers``, as this code defines them.

    Examples:
        >>> from bridge.trackers import LossTracker, ModeTracker
        >>> current_versions([LossTracker(), ModeTracker()])
        {'loss': 1, 'modes': 2}
    """
    return {t.name: tracker_version(t) for t in trackers}


def recorded_versions(info: Mapping[str, Any], path: str | Path = "run.json") -> dict[str, int]:
    """The ``tracker_versions`` a ``run.json`` records (``{}`` when it records none).

    Raises:
        CorruptFileError: the record is not a table of tracker names to positive integers.

    Examples:
        >>> recorded_versions({"tracker_versions": {"loss": 1, "modes": 2}}), recorded_versions({})
        ({'loss': 1, 'modes': 2}, {})
    """
    record = info.get(VERSIONS, {})
    ok = isinstance(record, dict) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in record.values())
    default = info.get(DEFAULT, 1)
    if not ok or isinstance(default, bool) or not isinstance(default, int) or default < 1:
        raise CorruptFileError(f"{path}: '{VERSIONS}' must map tracker names to positive integers (and '{DEFAULT}' be one), got {record!r:.80} and {default!r}")
    return dict(record)


def recorded_version(info: Mapping[str, Any], name: str) -> int | None:
    """The definition version of tracker ``name``'s rows in the run whose ``run.json`` is ``info``; ``None``
    when the run holds none of its rows.

    Examples:
        >>> recorded_version({}, "modes")  # written before versions were recorded
        1
        >>> recorded_version({"tracker_versions": {"modes": 2}}, "modes"), recorded_version({"tracker_versions": {"modes": 2}}, "heads")
        (2, None)
    """
    record = recorded_versions(info)
    if VERSIONS not in info:
        return 1
    return record.get(name, info.get(DEFAULT))


def versions_record(info: Mapping[str, Any], trackers: Sequence[Any]) -> dict[str, Any]:
    """The fields of ``run.json`` recording that the run now holds rows of ``trackers`` at this code's versions.

    Examples:
        >>> from bridge.trackers import ModeTracker
        >>> versions_record({}, [ModeTracker()])  # a run written before versions were recorded keeps version 1 for the others
        {'tracker_versions': {'modes': 2}, 'tracker_versions_default': 1}
        >>> versions_record({"tracker_versions": {"loss": 1}}, [ModeTracker()])
        {'tracker_versions': {'loss': 1, 'modes': 2}}
    """
    fields: dict[str, Any] = {VERSIONS: {**recorded_versions(info), **current_versions(trackers)}}
    if VERSIONS not in info or DEFAULT in info:
        fields[DEFAULT] = info.get(DEFAULT, 1)
    return fields


def refuse_mixed_versions(path: str | Path, info: Mapping[str, Any], trackers: Sequence[Any], *, online: bool, fresh: bool = False, every_step: bool = True) -> None:
    """Refuse, in one line, to append rows of ``trackers`` to a run whose rows of one of them are of another version.

    Args:
        path: the run directory (named in the message).
        info: its ``run.json``.
        trackers: the trackers whose rows would be appended.
        online: the rows come from training (a resume or an extension), else from an analysis.
        fresh: the analysis replaces the earlier rows of the observables it writes.
        every_step: the analysis covers every checkpoint.

    Raises:
        RunError: naming the tracker, the recorded and current versions, and what to do. Training's rows
            (of the run's online trackers) cannot be rewritten in place: train anew. An analysis's rows can:
            with ``fresh`` over every checkpoint.

    Examples:
        >>> class Llc: name, version = "llc", 2
        >>> refuse_mixed_versions("runs/a", {"tracker_versions": {"llc": 2}}, [Llc()], online=False)  # same version: appends
        >>> refuse_mixed_versions("runs/a", {"tracker_versions": {"llc": 1}}, [Llc()], online=False, fresh=True)  # rewrites them
        >>> refuse_mixed_versions("runs/a", {"tracker_versions": {"llc": 1}}, [Llc()], online=False)
        Traceback (most recent call last):
        ...
        bridge.runs.errors.RunError: cannot append 'llc' to runs/a: its rows of tracker 'llc' are of definition version 1, this code's are of version 2; `mechbridge analyze runs/a --tracker llc --fresh` (analyze(run, trackers, fresh=True) over every checkpoint) rewrites them
    """
    listed = info.get("trackers")
    online_names = listed if isinstance(listed, list) else []
    for tracker in trackers:
        current, recorded = tracker_version(tracker), recorded_version(info, tracker.name)
        if recorded is None or recorded == current:
            continue
        what = f"its rows of tracker {tracker.name!r} are of definition version {recorded}, this code's are of version {current}"
        if not online and tracker.name not in online_names and tracker.name not in info.get(VERSIONS, {}):  # a version by default
            what = f"its rows of tracker {tracker.name!r}, if it holds any, are of definition version {recorded} (written before versions were recorded), this code's are of version {current}"
        if online:
            raise RunError(f"cannot extend or resume {path}: {what}, and the two would mix in one table; train anew into another directory")
        if tracker.name in online_names:
            raise RunError(f"cannot analyze {path} with {tracker.name!r}: {what}, written in training at every tracked step, which an analysis of the checkpoints cannot rewrite; train anew into another directory")
        if not (fresh and every_step):
            raise RunError(f"cannot append {tracker.name!r} to {path}: {what}; `mechbridge analyze {path} --tracker {tracker.name} --fresh` (analyze(run, trackers, fresh=True) over every checkpoint) rewrites them")
