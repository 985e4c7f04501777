"""Plain `mechbridge report` (no --rebuild) names a checkpoint cut short, grown or with a damaged header in one
line, from the safetensors headers and file sizes alone: no weights read and torch not imported."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.runs.errors import CorruptFileError
from bridge.runs.headers import check_header
from bridge.runs.storage import read_metadata
from case_studies import run_case_study
from helpers import SMALL_DEEP_LINEAR, file_hashes

SMALL = SMALL_DEEP_LINEAR
LAST, EARLY, OPTIM = "checkpoints/step_00000120.safetensors", "checkpoints/step_00000001.safetensors", "checkpoints/optim_00000120.safetensors"


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("good") / "run"
    run_case_study("deep-linear", "quick", out, device="cpu", progress=False, settings=SMALL)
    return out



def _edit(name: str, change):
    return lambda out: (out / name).write_bytes(change((out / name).read_bytes()))


def _nested(out: Path) -> None:
    """A run of the study inside it (OUT/runs/<key>) whose early checkpoint is cut short."""
    shutil.copytree(out / "checkpoints", out / "runs" / "aux" / "checkpoints")
    _edit(f"runs/aux/{EARLY}", lambda b: b[:-3])(out)


@pytest.mark.parametrize(
    "damage,where,named,why",
    [
        (_edit(LAST, lambda b: b[:-7]), "", "step_00000120.safetensors", "its tensors end at byte "),
        (_edit(EARLY, lambda b: b[:-1]), "", "step_00000001.safetensors", "its tensors end at byte "),
        (_edit(OPTIM, lambda b: b[:-7]), "", "optim_00000120.safetensors", "runs past the end of the file"),  # its state is a few bytes: the cut reaches its header
        (_edit(EARLY, lambda b: b + b"\0\0"), "", "step_00000001.safetensors", "its tensors end at byte "),
        (_edit(EARLY, lambda b: b[:5]), "", "step_00000001.safetensors", "5 bytes, fewer than the 8 of its header length"),
        (_edit(EARLY, lambda b: b[:40]), "", "step_00000001.safetensors", "runs past the end of the file (40 bytes)"),
        (_edit(EARLY, lambda b: b[:8] + b"#" + b[9:]), "", "step_00000001.safetensors", "corrupt or truncated (Expecting value"),
        (_nested, "runs/aux", "step_00000001.safetensors", "its tensors end at byte "),
    ],
    ids=["last-cut", "early-cut-one-byte", "optimizer-cut", "early-grown", "shorter-than-a-header-length", "header-cut", "header-not-json", "nested-run"],
)
def test_report_names_a_damaged_checkpoint_in_one_line_and_changes_nothing(good, tmp_path, capsys, damage, where, named, why):
    out = tmp_path / "copy"
    shutil.copytree(good, out)
    damage(out)
    before = file_hashes(out)
    assert main(["report", str(out)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    folder = out / where if where else out
    assert captured.out == "" and len(lines) == 1, lines
    assert lines[0].startswith(f"mechbridge: error: {folder}: checkpoint {named} is corrupt or truncated (") and why in lines[0], lines
    assert file_hashes(out) == before


def test_report_of_whole_checkpoints_prints_the_report(good, capsys):
    verdict = json.loads((good / "report.json").read_text())["verdict"]
    assert main(["report", str(good)]) == (0 if verdict == "pass" else 1)
    assert capsys.readouterr().out == (good / "report.md").read_text() + "\n"


def test_the_header_check_agrees_with_safetensors_on_every_cut_and_growth_of_a_checkpoint(good, tmp_path):
    """The header check against safetensors' own reader (the slow reference): the same files refused."""
    data = (good / OPTIM).read_bytes()
    file = tmp_path / "optim_00000120.safetensors"
    (length,) = __import__("struct").unpack("<Q", data[:8])
    sizes = sorted({*range(0, 8 + length + 40), *range(len(data) - 40, len(data) + 9)})  # about the header and the end
    refused = []
    for size in sizes:
        file.write_bytes(data[:size] if size <= len(data) else data + b"\1" * (size - len(data)))
        try:
            read_metadata(file)
            reference = False
        except CorruptFileError:
            reference = True
        try:
            check_header(file)
            ours = False
        except CorruptFileError:
            ours = True
        assert ours == reference, (size, len(data))
        refused.append(ours)
    assert refused.count(False) == 1 and sizes[refused.index(False)] == len(data)  # only the whole file reads


def test_report_reads_no_weights_and_does_not_import_torch(good):
    code = f"import sys; from bridge.cli import main; code = main(['report', {str(good)!r}]); print('torch' in sys.modules); sys.exit(code)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize(
    "config,field,shown",
    [([1, 2], "'config'", "[1, 2]"), (3, "'config'", "3"), (None, "'config'", "None"),
     ("run", "'config'", "'run'"), ({"kind": "run", "task": [], "model": {}, "train": {}}, "'config.task'", "[]")],
)
def test_report_refuses_a_run_json_whose_config_is_not_a_config_in_one_line_without_torch(good, tmp_path, config, field, shown):
    """It printed the stored report, a pass, over a run.json whose config every other reader refuses."""
    out = tmp_path / "run"
    shutil.copytree(good, out)
    info = json.loads((out / "run.json").read_text())
    info["config"] = config
    (out / "run.json").write_text(json.dumps(info))
    code = f"import sys; from bridge.cli import main; code = main(['report', {str(out)!r}]); print('torch' in sys.modules); sys.exit(code)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout.splitlines() == ["False"], (done.stdout[-500:], done.stderr[-2000:])
    (line,) = done.stderr.strip().splitlines()
    assert "run.json" in line and f"{field} must be an object naming its kind" in line and line.endswith(f"got {shown}")
