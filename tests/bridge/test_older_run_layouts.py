"""Run directories written by earlier versions of the library read with this one, or are refused in one line
saying what changed. Each layout is written here by hand, as small as it can be:

- before run.json recorded its files (no ``"files"``, no ``"offline_done"``): a model config without ``init`` and
  ``init_strength``, a train config without ``dtype``, ``warmup``, ``clip_grad_norm`` and ``decay``, checkpoints
  with their step as the only metadata (no checksums), and index cells written as floats (``0.0``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from bridge import RunConfig, TrainConfig, load_run
from bridge.cli import main
from bridge.config import config_to_dict
from bridge.models import DeepLinearConfig
from bridge.runs.errors import CorruptFileError
from bridge.tasks import LinearTeacherConfig

CONFIG = RunConfig(LinearTeacherConfig((2.0, 1.0), d_in=2, d_out=2), DeepLinearConfig(2, 3, 2), TrainConfig(steps=2))
WEIGHTS = {"weights.0": torch.arange(6, dtype=torch.float32).reshape(3, 2) / 8, "weights.1": -torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4}


def file_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def before_file_records(out: Path, status: str = "complete") -> Path:
    """A run directory as the library wrote it before ``run.json`` recorded its files (and its report)."""
    config = config_to_dict(CONFIG)
    for field in ("init", "init_strength"):
        del config["model"][field]
    for field in ("dtype", "warmup", "clip_grad_norm", "decay"):
        del config["train"][field]
    del config["train"]["schedule"]["track_resolution"]
    info = {"config": config, "seed": 0, "device": "cpu", "status": status, "trackers": ["loss", "modes"], "last_step": 2, "schedule": {"checkpoints": [0, 1, 2], "tracked_steps": 3, "track_every": 0}, "metrics_bytes": {"2": 0}}
    (out / "checkpoints").mkdir(parents=True)
    for step in (0, 1, 2):
        save_file({k: v * (step + 1) for k, v in WEIGHTS.items()}, str(out / "checkpoints" / f"step_{step:08d}.safetensors"), metadata={"step": str(step)})
    rows = [f"{step},loss/train,{1.0 / (step + 1)},\n{step},mode/strength,{0.5 * step},{mode}.0" for step in (0, 1, 2) for mode in (0, 1)]
    (out / "metrics.csv").write_text("step,observable,value,mode\n" + "\n".join(dict.fromkeys(r for row in rows for r in row.split("\n"))) + "\n")
    info["metrics_bytes"] = {"2": (out / "metrics.csv").stat().st_size}
    (out / "report.json").write_text(json.dumps({"case_study": "deep-linear", "verdict": "pass", "matches": []}))
    (out / "report.md").write_text("# deep-linear: **PASS**\n")
    (out / "run.json").write_text(json.dumps(info, indent=2))
    return out


def test_a_run_from_before_file_records_reads_its_config_metrics_and_weights(tmp_path):
    run = load_run(before_file_records(tmp_path / "old"))
    assert run.config.model.init == "gaussian" and run.config.train.dtype == "float32"  # what the library did before the fields existed
    assert run.config.train.warmup == 0 and run.config.train.clip_grad_norm is None and run.config.train.decay == "none"
    assert run.status == "complete" and run.steps == [0, 1, 2]
    assert run.observable("mode/strength", mode=1).to_dict() == {0: 0.0, 1: 0.5, 2: 1.0}  # "1.0" is the index 1
    assert str(run.metrics["mode"].dtype) == "Int64" and abs(run.observable("loss/train").loc[2] - 1 / 3) < 1e-15
    model = run.model_at(2)
    for name, value in WEIGHTS.items():
        assert torch.equal(model.state_dict()[name], value * 3), name
    assert run.events == []


def test_a_report_from_before_file_records_is_refused_as_an_earlier_layout_not_as_interrupted(tmp_path, capsys):
    out = before_file_records(tmp_path / "old")
    with pytest.raises(CorruptFileError, match=r"earlier version of mechbridge.*mechbridge report .* --rebuild") as caught:
        _ = load_run(out).report
    assert "interrupted" not in str(caught.value)
    before = file_hashes(out)
    code = main(["report", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "earlier version of mechbridge" in err[0] and f"mechbridge report {out} --rebuild" in err[0] and "interrupted" not in err[0], err[0]
    assert file_hashes(out) == before


@pytest.mark.parametrize("status", ["running", "failed"])
def test_a_report_left_by_a_run_trained_again_is_still_an_interrupted_one(tmp_path, capsys, status):
    # a run extended or resumed takes "files" out of run.json until it completes: its old report is not on record
    out = before_file_records(tmp_path / "old", status=status)
    with pytest.raises(CorruptFileError, match="writing the report was interrupted"):
        _ = load_run(out).report
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    assert "earlier version" not in err and ("interrupted" in err or "failed" in err), err
