"""Property tests of the run loaders: over random bytes and random JSON, ``run.json``, ``metrics.csv``,
``events.json``, ``report.json`` and checkpoints either load into what they promise or raise the
run store's own errors (``RunError``, ``CorruptFileError``), never another exception; the command
line answers them with one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from bridge import RunConfig, ScheduleConfig, TrainConfig, load_run, train
from bridge.cli import main
from bridge.models import DeepLinearConfig
from bridge.runs.errors import CorruptFileError, RunError
from bridge.tasks import LinearTeacherConfig

EXPECTED = (RunError, CorruptFileError)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
random_bytes = st.binary(max_size=300)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    cfg = RunConfig(LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3), DeepLinearConfig(4, 8, 3, init_std=0.05), TrainConfig(lr=0.05, steps=6, schedule=ScheduleConfig(n_log=3)), seed=0)
    out = tmp_path_factory.mktemp("fuzz") / "run"
    train(cfg, out, progress=False)
    json_dump = lambda obj: json.dumps(obj)  # noqa: E731
    (out / "events.json").write_text(json_dump([{"name": "e", "step": 3}]))
    (out / "report.json").write_text(json_dump({"verdict": "pass", "matches": [], "checks": []}))
    (out / "report.md").write_text("# report\n")
    return out


def fresh(template: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(template, out)
    return out


def read_everything(path: Path) -> None:
    """Open the run and touch every loader (each may raise only the run store's errors)."""
    run = load_run(path)
    metrics = run.metrics
    assert list(metrics.columns[:3]) == ["step", "observable", "value"]
    events = run.events
    assert isinstance(events, list) and all(isinstance(e, dict) for e in events)
    report = run.report
    assert report is None or isinstance(report, dict)
    for step in run.steps:
        run.model_at(step)


def check(path: Path) -> None:
    try:
        read_everything(path)
    except EXPECTED:
        pass


def without_records(out: Path) -> None:
    """Drop the size and checksum records so the parsers themselves see the damaged bytes."""
    info = json.loads((out / "run.json").read_text())
    info.pop("files", None)
    (out / "run.json").write_text(json.dumps(info))


@FUZZ
@given(data=random_bytes)
def test_random_bytes_as_run_json(template, tmp_path, data):
    out = fresh(template, tmp_path)
    (out / "run.json").write_bytes(data)
    check(out)


@FUZZ
@given(field=st.sampled_from(["config", "status", "files", "trackers", "seed", "metrics_bytes"]), value=json_values, whole=st.booleans())
def test_random_json_in_run_json(template, tmp_path, field, value, whole):
    out = fresh(template, tmp_path)
    info = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps(value if whole else {**info, field: value}))
    check(out)


@FUZZ
@given(field=st.sampled_from(["d_in", "d_hidden", "d_out", "depth", "init_std", "init"]), value=json_values)
def test_random_json_in_the_model_config(template, tmp_path, field, value):
    out = fresh(template, tmp_path)
    info = json.loads((out / "run.json").read_text())
    info["config"]["model"][field] = value
    (out / "run.json").write_text(json.dumps(info))
    check(out)


@FUZZ
@given(name=st.sampled_from(["metrics.csv", "events.json", "report.json"]), data=random_bytes, keep_record=st.booleans())
def test_random_bytes_in_the_tables(template, tmp_path, name, data, keep_record):
    out = fresh(template, tmp_path)
    if not keep_record:
        without_records(out)
    (out / name).write_bytes(data)
    check(out)


@FUZZ
@given(name=st.sampled_from(["events.json", "report.json"]), value=json_values)
def test_random_json_in_events_and_report(template, tmp_path, name, value):
    out = fresh(template, tmp_path)
    without_records(out)
    (out / name).write_text(json.dumps(value))
    check(out)


@FUZZ
@given(lines=st.lists(st.lists(st.sampled_from(["0", "1", "-2", "2.5", "x", "", "nan", "loss/train", '"a,b"']), min_size=1, max_size=5), max_size=6), header=st.sampled_from(["step,observable,value", "step,observable,value,mode", "observable,step,value", "a,b"]))
def test_random_csv_rows_in_metrics(template, tmp_path, lines, header):
    out = fresh(template, tmp_path)
    without_records(out)
    (out / "metrics.csv").write_text("\n".join([header, *(",".join(cells) for cells in lines)]) + "\n")
    check(out)


@FUZZ
@given(data=random_bytes)
def test_random_bytes_as_a_checkpoint(template, tmp_path, data):
    out = fresh(template, tmp_path)
    (out / "checkpoints" / "step_00000006.safetensors").write_bytes(data)
    check(out)


@FUZZ
@given(shapes=st.dictionaries(st.sampled_from(["weights.0", "weights.1", "extra"]), st.lists(st.integers(0, 9), max_size=3), min_size=1, max_size=3), dtype=st.sampled_from([torch.float32, torch.float64, torch.int64, torch.float16]))
def test_valid_safetensors_of_random_names_shapes_and_dtypes(template, tmp_path, shapes, dtype):
    out = fresh(template, tmp_path)
    save_file({k: torch.zeros(s, dtype=dtype) for k, s in shapes.items()}, str(out / "checkpoints" / "step_00000006.safetensors"))
    with pytest.raises(CorruptFileError, match="step_00000006.safetensors"):
        load_run(out).model_at(6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=st.sampled_from(["run.json", "report.json", "report.md", "events.json"]), data=random_bytes)
def test_the_report_command_answers_damage_with_one_line(template, tmp_path, capsys, name, data):
    out = fresh(template, tmp_path)
    info = json.loads((out / "run.json").read_text())
    from bridge.runs.checksums import record

    info["files"] = record(out, ["metrics.csv", "events.json", "report.json", "report.md"])
    (out / "run.json").write_text(json.dumps(info))
    capsys.readouterr()
    assume(data != (out / name).read_bytes())
    (out / name).write_bytes(data)
    code = main(["report", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("mechbridge: error: "), err
