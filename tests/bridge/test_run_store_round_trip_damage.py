"""A damaged file of a run directory is refused naming the file, never read as a shorter or other table.

The metrics table of a run that is still written (or whose writer was killed) has no record in
``run.json`` to check it against, so its reader is the only check: a last row cut short (a value
``0.125`` read back as ``0.12``), a row with fewer cells than the header (its value or indices read
back as missing) or a blank line (a row's text gone) used to read back as a table. A checkpoint
whose header lies about its length, and a JSON file cut at any byte, are refused naming the file.
"""

from __future__ import annotations

import csv
import io
import json
import struct

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge import RunConfig, TrainConfig, load_run, train
from bridge.config import config_to_dict
from bridge.models import DeepLinearConfig
from bridge.report import BridgeReport
from bridge.runs.checksums import record
from bridge.runs.errors import CorruptFileError
from bridge.runs.metrics import MetricsLog, read_metrics
from bridge.runs.storage import load_tensors, read_metadata, save_tensors
from bridge.tasks import LinearTeacherConfig

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
CONFIG = config_to_dict(RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(steps=3)))

name = st.sampled_from(["loss/train", "a,b", 'say "x"', "ü ß/κ", "two\nlines"])
index = st.none() | st.integers(-(2**62), 2**62) | st.sampled_from(["head", "L1H3", "a,b"])
row = st.fixed_dictionaries(
    {"step": st.integers(0, 2**62), "observable": name, "value": st.floats(width=64)},
    optional={"mode": index, "split": index},
)


def run_folder(tmp_path, rows):
    """A run directory without a record of its metrics (as while it is written), holding ``rows``."""
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"config": CONFIG, "status": "running", "files": {}}))
    MetricsLog(folder).append(rows)
    return folder


def refused(folder):
    with pytest.raises(CorruptFileError, match=r"^metrics\.csv "):
        read_metrics(folder)
    with pytest.raises(CorruptFileError, match=r"^metrics\.csv "):
        _ = load_run(folder).metrics


def row_ends(data: bytes) -> list[int]:
    """The offsets just past each row's newline, the header's first (a quoted cell may hold newlines: the csv reader counts them)."""
    newlines = [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]
    reader = csv.reader(io.StringIO(data.decode(), newline=""))
    return [newlines[reader.line_num - 1] for _ in reader]


@PROPERTY
@given(rows=st.lists(row, min_size=1, max_size=6), data=st.data())
def test_a_table_cut_inside_its_last_row_is_refused_naming_it(tmp_path_factory, rows, data):
    folder = run_folder(tmp_path_factory.mktemp("cut"), rows)
    file = folder / "metrics.csv"
    whole = file.read_bytes()
    ends = row_ends(whole)
    last_start = ends[-2]
    cut = data.draw(st.integers(last_start + 1, len(whole) - 1), label="cut")  # inside the last row, its newline gone
    file.write_bytes(whole[:cut])
    refused(folder)


@PROPERTY
@given(rows=st.lists(row, min_size=1, max_size=6), data=st.data(), change=st.sampled_from(["fewer", "more", "blank"]))
def test_a_row_of_another_width_or_a_blank_line_is_refused_naming_the_table(tmp_path_factory, rows, data, change):
    folder = run_folder(tmp_path_factory.mktemp("width"), rows)
    file = folder / "metrics.csv"
    whole = file.read_bytes()
    ends = row_ends(whole)
    at = data.draw(st.integers(1, len(ends) - 1), label="row")
    start, end = ends[at - 1], ends[at]
    line = whole[start : end - 1]
    if change == "fewer":  # from the last comma on gone: the last cell (or, inside a quoted cell, its end and quote)
        line = line[: line.rindex(b",")]
    elif change == "more":
        line += b",7"
    else:
        line = b""
    file.write_bytes(whole[:start] + line + b"\n" + whole[end:])
    refused(folder)


@pytest.mark.parametrize(
    ("text", "read_as"),
    [
        ("step,observable,value,mode\n0,x,0.5,1\n1,x,0.125,2", "the last value read back as 0.125 without its newline"),
        ("step,observable,value,mode\n0,x,0.5,1\n1,x,0.12", "0.125 cut to 0.12"),
        ("step,observable,value,mode\n0,x,0.5,1\n1,x,0.25\n", "a row without its mode"),
        ("step,observable,value,mode\n0,x,0.5,1\n1,x\n", "a row without its value"),
        ("step,observable,value\n0,x,0.5\n1,x\n", "a row without its value in a table of no index"),
        ("step,observable,value,mode\n0,x,0.5,1\n\n1,x,0.25,2\n", "a blank line skipped"),
    ],
)
def test_a_damaged_table_that_used_to_read_as_another_is_refused(tmp_path, text, read_as):
    (tmp_path / "metrics.csv").write_text(text)
    with pytest.raises(CorruptFileError, match=r"^metrics\.csv is not a tidy metrics table: "):
        read_metrics(tmp_path)


def test_a_table_the_writer_wrote_reads_back_whatever_its_text_cells_hold(tmp_path):
    rows = [{"step": 0, "observable": "a,b\nc", "value": 0.5, "k": 'x,"y"\nz'}, {"step": 1, "observable": "d", "value": -0.0, "k": None}]
    MetricsLog(tmp_path).append(rows)
    assert read_metrics(tmp_path)["k"].tolist()[0] == 'x,"y"\nz' and len(read_metrics(tmp_path)) == 2


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    file = tmp_path_factory.mktemp("ckpt") / "step_00000003.safetensors"
    save_tensors(file, {"w": torch.arange(6.0).reshape(2, 3), "b": torch.ones(3, dtype=torch.float64)}, {"step": "3"})
    return file, file.read_bytes()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(delta=st.integers(-(2**64) + 1, 2**64 - 1).filter(bool) | st.sampled_from([-8, -1, 1, 7, 8]))
def test_a_checkpoint_whose_header_lies_about_its_length_is_refused_naming_it(checkpoint, delta):
    file, whole = checkpoint
    (length,) = struct.unpack("<Q", whole[:8])
    file.write_bytes(struct.pack("<Q", (length + delta) % 2**64) + whole[8:])
    try:
        for read in (load_tensors, read_metadata):
            with pytest.raises(CorruptFileError, match=r"^checkpoint step_00000003\.safetensors is corrupt or truncated"):
                read(file)
    finally:
        file.write_bytes(whole)
    assert load_tensors(file)["w"].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A trained run with a report set on record: its JSON files are cut in the tests."""
    out = tmp_path_factory.mktemp("json") / "run"
    run = train(RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(steps=3)), out, device="cpu", progress=False)
    BridgeReport("toy", "quick", 0, extra={"settings": {"lr": float("nan")}}).write(out)
    run.write_events([{"name": "rise", "step": 2.0}])
    run.update_info(files={**run.info["files"], **record(out, ["report.json", "report.md"])})
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(["events.json", "report.json", "run.json"]), data=st.data(), recorded=st.booleans())
def test_a_json_file_cut_at_any_byte_is_refused_naming_it(finished, which, data, recorded):
    file = finished / which
    whole, info = file.read_bytes(), (finished / "run.json").read_bytes()
    cut = data.draw(st.integers(0, len(whole.rstrip()) - 1), label="cut")
    try:
        if not recorded and which != "run.json":  # no record to check it against: the JSON reader alone
            kept = json.loads(info)
            kept["files"].pop(which)
            (finished / "run.json").write_text(json.dumps(kept))
        file.write_bytes(whole[:cut])
        with pytest.raises(CorruptFileError, match=rf"{which.replace('.', '[.]')}"):
            run = load_run(finished)
            _ = run.events if which == "events.json" else run.report
    finally:
        file.write_bytes(whole)
        (finished / "run.json").write_bytes(info)
    assert load_run(finished).report["settings"] == {"lr": None}  # NaN in an extra field: written as null, documented


class Widening:
    """Rows with an index column from step 60 on (the header widens and the table is rewritten); fails at ``fail_at``."""

    name = "widen"

    def __init__(self, fail_at=None):
        self.fail_at = fail_at

    def __call__(self, model, step, data):
        if step == self.fail_at:
            raise RuntimeError(f"tracker failed at step {step}")
        return [{"observable": "w/norm", "value": float(step)}] + ([{"observable": "w/extra", "value": float(step), "k": 1}] if step >= 60 else [])


@pytest.mark.parametrize("tail", [b"86,w/no", b"8", b"86,w/norm,86.0,\n87,w/ex"])
def test_a_run_killed_inside_an_append_after_its_header_widened_resumes_to_the_table_of_one_go(tmp_path, tail):
    """Resuming filters such a table back to the resume point it falls back to: the rows a killed append
    left, the last one cut short, are of later steps and dropped, while the reader refuses the cut row."""
    config = RunConfig(LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=4), DeepLinearConfig(4, 16, 4, init_std=0.01), TrainConfig(lr=0.1, steps=100))
    whole = train(config, tmp_path / "whole", device="cpu", progress=False, trackers=[Widening()])
    cut = tmp_path / "cut"
    with pytest.raises(RuntimeError):
        train(config, cut, device="cpu", progress=False, trackers=[Widening(fail_at=100)])
    for step in (73, 85):  # back to resume point 53, whose rows were measured on the narrow header
        optim = cut / "checkpoints" / f"optim_{step:08d}.safetensors"
        optim.write_bytes(optim.read_bytes()[:20])
    with open(cut / "metrics.csv", "ab") as file:
        file.write(tail)
    refused(cut)
    with pytest.warns(UserWarning, match="optim_00000073.safetensors"):
        resumed = train(config, cut, device="cpu", progress=False, trackers=[Widening()], resume=True)
    assert resumed.status == "complete"
    assert (cut / "metrics.csv").read_bytes() == (tmp_path / "whole" / "metrics.csv").read_bytes()
    assert whole.metrics.equals(load_run(cut).metrics)
