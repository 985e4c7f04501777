"""`mechbridge report --rebuild` names a damaged checkpoint in one line before it writes anything, also when
the study's analysis never reads checkpoints (deep-linear reads metrics only), without reading every
checkpoint's tensor data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bridge import load_run
from bridge.cli import main
from bridge.runs import checkpoints
from bridge.runs.checkpoints import check_checkpoints, checkpoint_path
from bridge.runs.errors import CorruptFileError
from case_studies import run_case_study
from helpers import SMALL_DEEP_LINEAR, file_hashes

SMALL = SMALL_DEEP_LINEAR


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("good") / "run"
    run_case_study("deep-linear", "quick", out, device="cpu", progress=False, settings=SMALL)
    return out



def _cut(name: str, cut: int = 7):
    return lambda out: (out / name).write_bytes((out / name).read_bytes()[:-cut])


def _flip(name: str):
    def damage(out: Path) -> None:
        data = bytearray((out / name).read_bytes())
        data[-5] ^= 0x10  # inside the last tensor's values: the header still parses
        (out / name).write_bytes(bytes(data))

    return damage


LAST, EARLY, OPTIM = "checkpoints/step_00000120.safetensors", "checkpoints/step_00000001.safetensors", "checkpoints/optim_00000120.safetensors"


@pytest.mark.parametrize(
    "damage,named,why",
    [
        (_cut(LAST), "step_00000120.safetensors", "corrupt or truncated"),
        (_flip(LAST), "step_00000120.safetensors", "does not match the checksum it was saved with"),
        (_cut(EARLY), "step_00000001.safetensors", "corrupt or truncated"),
        (_cut(OPTIM), "optim_00000120.safetensors", "corrupt or truncated"),
        (lambda out: (out / EARLY).write_bytes((out / EARLY).read_bytes() + b"\0\0"), "step_00000001.safetensors", "corrupt or truncated"),
        (lambda out: (out / LAST).unlink(), "step_00000120.safetensors", "of the last step 120 is missing"),
    ],
    ids=["last-cut", "last-one-bit", "early-cut", "optimizer-cut", "early-grown", "last-gone"],
)
def test_rebuild_names_a_damaged_checkpoint_in_one_line_and_writes_nothing(good, tmp_path, capsys, damage, named, why):
    out = tmp_path / "copy"
    shutil.copytree(good, out)
    (out / "report.json").write_text('{"verdict": "pass"}')  # a report to rebuild: it stays as it is
    damage(out)
    before = file_hashes(out)
    assert main(["report", str(out), "--rebuild"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"mechbridge: error: {out}: checkpoint {named}") and why in lines[0], lines
    assert file_hashes(out) == before


def test_rebuild_of_whole_checkpoints_gives_the_report_written_with_the_run(good, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(good, out)
    original = json.loads((good / "report.json").read_text())
    assert main(["report", str(out), "--rebuild"]) == (0 if original["verdict"] == "pass" else 1)
    assert json.loads((out / "report.json").read_text()) == original


def test_the_check_reads_the_tensor_data_of_the_last_checkpoint_only(good, monkeypatch):
    run = load_run(good)
    read = []
    load = checkpoints.load_tensors
    monkeypatch.setattr(checkpoints, "load_tensors", lambda file, *a: (read.append(Path(file).name), load(file, *a))[1])
    check_checkpoints(run.path, run.info["last_step"])
    assert read == ["step_00000120.safetensors"] and len(run.steps) == 13
    read.clear()
    check_checkpoints(run.path)  # no last step given: headers only
    assert read == []


def test_a_value_changed_in_an_earlier_checkpoint_is_found_when_that_checkpoint_is_loaded(good, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(good, out)
    _flip(EARLY)(out)
    check_checkpoints(out, 120)  # the header and size are whole
    with pytest.raises(CorruptFileError, match="step_00000001.safetensors does not match the checksum"):
        load_run(out).model_at(1)
    assert checkpoint_path(out, 1).stat().st_size == checkpoint_path(good, 1).stat().st_size
