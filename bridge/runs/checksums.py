"""Size and SHA-256 of the files a reader trusts, recorded in ``run.json`` under ``"files"`` and checked on read.

A file whose bytes no longer match its record (truncated, damaged, or written by
a process killed half-way through a set of files) is never used silently: the
reader raises :class:`~bridge.runs.errors.CorruptFileError` naming it.

Examples:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "metrics.csv").write_text("step,observable,value\\n0,a,1.0\\n")
    >>> files = record(folder, ["metrics.csv"])
    >>> files["metrics.csv"]["bytes"]
    30
    >>> verify(folder, files, "metrics.csv")
    >>> _ = (folder / "metrics.csv").write_text("step,observable,value\\n0,a,1")
    >>> verify(folder, files, "metrics.csv")
    Traceback (most recent call last):
    ...
    bridge.runs.errors.CorruptFileError: metrics.csv has 27 bytes but run.json records 30 (truncated or changed since it was written)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bridge.runs.errors import CorruptFileError


def digest(file: Path | bytes) -> dict[str, Any]:
    """``{"bytes": size, "sha256": hex}`` of ``file`` (a path, or the bytes themselves).

    Examples:
        >>> import tempfile, pathlib
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "a.txt"; _ = file.write_text("abc")
        >>> digest(file)  # the SHA-256 test vector of "abc"
        {'bytes': 3, 'sha256': 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'}
        >>> digest(b"abc") == digest(file)
        True
    """
    data = file if isinstance(file, bytes) else file.read_bytes()
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def record(folder: str | Path, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Digests of the named files that exist in ``folder`` (name → :func:`digest`).

    Examples:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp()); _ = (folder / "a.txt").write_text("abc")
        >>> record(folder, ["a.txt", "missing.csv"])["a.txt"]["bytes"], "missing.csv" in record(folder, ["missing.csv"])
        (3, False)
    """
    folder = Path(folder)
    return {name: digest(folder / name) for name in names if (folder / name).is_file()}


def verify(folder: str | Path, files: Mapping[str, Any] | None, name: str) -> None:
    """Raise ``CorruptFileError`` if ``name`` in ``folder`` differs from its record (no record: nothing to check).

    A record written just before its file was replaced holds the file it replaces under
    ``"before"`` (``None``: there was none): until the record drops it, either file is
    whole, so a writer killed between the two steps leaves a readable run.

    Examples:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> verify(folder, {"a.txt": {"bytes": 3, "sha256": "ba78..."}}, "a.txt")
        Traceback (most recent call last):
        ...
        bridge.runs.errors.CorruptFileError: a.txt is missing but run.json records it (3 bytes)
        >>> verify(folder, {"a.txt": {"bytes": 3, "sha256": "ba78...", "before": None}}, "a.txt")  # not yet written: the missing file is the one before
    """
    entry = (files or {}).get(name)
    if not entry:
        return
    _check_entry(name, entry)
    file, before = Path(folder) / name, entry.get("before")
    if before is not None:
        _check_entry(name, before)
    if not file.is_file():
        if "before" in entry and before is None:  # a replacement under way of a file that did not exist
            return
        raise CorruptFileError(f"{name} is missing but run.json records it ({entry['bytes']} bytes)")
    now = digest(file)
    if before is not None and now == {"bytes": before["bytes"], "sha256": before["sha256"]}:
        return
    if now["bytes"] != entry.get("bytes"):
        raise CorruptFileError(f"{name} has {now['bytes']} bytes but run.json records {entry.get('bytes')} (truncated or changed since it was written)")
    if now["sha256"] != entry.get("sha256"):
        raise CorruptFileError(f"{name} does not match its checksum in run.json (damaged or changed since it was written)")


def stamp(text: str, name: str, source: bytes) -> str:
    """``text``, rendered from the file ``name`` whose bytes are ``source``, with a last line holding their
    SHA-256 (an HTML comment: invisible where the markdown is shown). :func:`unstamp` takes it off again.

    Examples:
        >>> stamp("# PASS\\n", "seed_report.json", b"abc")
        '# PASS\\n\\n<!-- written from seed_report.json with sha256 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad -->\\n'
    """
    return f"{text}\n<!-- written from {name} with sha256 {hashlib.sha256(source).hexdigest()} -->\n"


def unstamp(text: str, name: str, source: bytes, required: bool = False) -> tuple[str, bool | None]:
    """``(text without its stamp, whether the stamp holds the SHA-256 of source)``: ``None`` for a text without
    a stamp for ``name`` (written before stamps were), ``False`` for one when ``required`` (its source records
    that the text was stamped: it was cut short, or replaced).

    Examples:
        >>> unstamp(stamp("# PASS\\n", "seed_report.json", b"abc"), "seed_report.json", b"abc")
        ('# PASS\\n', True)
        >>> unstamp(stamp("# PASS\\n", "seed_report.json", b"abc"), "seed_report.json", b"abd")[1], unstamp("# PASS\\n", "seed_report.json", b"abc")
        (False, ('# PASS\\n', None))
        >>> unstamp("# PA", "seed_report.json", b"abc", required=True)  # written with a stamp, and cut short
        ('# PA', False)
    """
    found = re.search(rf"\n<!-- written from {re.escape(name)} with sha256 ([0-9a-f]{{64}}) -->\n\Z", text)
    if found is None:
        return text, False if required else None
    return text[: found.start()], found.group(1) == hashlib.sha256(source).hexdigest()


def _check_entry(name: str, entry: Any) -> None:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("bytes"), int) or not isinstance(entry.get("sha256"), str):
        raise CorruptFileError(f"run.json's record of {name} is malformed (expected bytes and sha256, got {entry!r})")
