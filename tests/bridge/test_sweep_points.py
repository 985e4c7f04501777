"""Sweep points without training many runs: grid keys and refusals, seed lists, manifests compared,
what a point's folder says about its state, and the row a finished point gives the results table."""

import json
import math

import pytest

import bridge
from bridge import ConfigError, RunConfig, ScheduleConfig, TrainConfig, train
from bridge.models import MLPConfig
from bridge.runs.checksums import record
from bridge.runs.errors import CorruptFileError
from bridge.runs.lock import create_run_dir, release
from bridge.runs.storage import atomic_write_json
from bridge.sweep import grid_points, parse_grid_option, parse_seeds
from bridge.sweep.manifest import difference, new_manifest, read_manifest
from bridge.sweep.point import DONE, INTERRUPTED, point_row, point_state
from bridge.sweep.runner import point_status
from bridge.tasks import LinearTeacherConfig
from bridge.trackers.base import row


def tiny(steps=4):
    return RunConfig(
        task=LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3, n_train=16),
        model=MLPConfig(d_in=4, d_out=3, widths=(8,), activation="tanh"),
        train=TrainConfig(optimizer="adam", lr=0.01, steps=steps, batch_size=8, schedule=ScheduleConfig(n_log=0, every=2)),
    )


def test_a_repeated_axis_value_is_refused_by_name():
    with pytest.raises(ConfigError, match=r"sweep axis 'train.lr' repeats a value"):
        grid_points({"train.lr": [0.1, "0.1"]})


def test_keys_are_filename_safe_and_two_values_with_one_key_are_refused():
    assert [p.key for p in grid_points({"train.name": ["a/b c", "x"]})] == ["train.name=a_b_c", "train.name=x"]
    with pytest.raises(ConfigError, match="two sweep points have the same key 'train.name=a_b'"):
        grid_points({"train.name": ["a/b", "a_b"]})


def test_listed_points_repeat_over_seeds_with_the_seed_varying_fastest():
    pts = grid_points(points=[{"train.lr": 0.1}, {"train.lr": 0.2}], seeds=[0, 1])
    assert [p.key for p in pts] == ["train.lr=0.1__seed=0", "train.lr=0.1__seed=1", "train.lr=0.2__seed=0", "train.lr=0.2__seed=1"]


def test_commas_inside_parentheses_belong_to_the_value():
    assert parse_grid_option("model.widths=(8,8),(16,)") == ("model.widths", ["(8,8)", "(16,)"])
    assert parse_grid_option("model.widths=[8, [1,2]],3") == ("model.widths", ["[8, [1,2]]", "3"])


def test_seed_lists_of_exactly_ten_thousand_pass_and_one_more_is_refused():
    assert len(parse_seeds("0-9999")) == 10000
    for text in ("0-10000", "0-4999,5000-10000", "0,1-10000"):
        with pytest.raises(ConfigError, match="more than 10000 seeds"):
            parse_seeds(text)


def test_two_sweeps_with_the_same_axes_but_other_points_differ():
    target = {"kind": "run", "config": {"seed": 0}}
    listed = lambda *pairs: grid_points(points=[{"model.d": d, "train.lr": lr} for d, lr in pairs])  # noqa: E731
    a = new_manifest(target, listed((1, 1), (2, 2), (1, 2)), "local")
    b = new_manifest(target, listed((1, 1), (2, 1), (2, 2)), "local")
    assert a["axes"] == b["axes"] == {"model.d": [1, 2], "train.lr": [1, 2]}
    assert difference(a, b) == "point model.d=2__train.lr=1 belongs to one sweep only"
    assert difference(a, new_manifest(target, listed((1, 1), (1, 2), (2, 2)), "local")) == "point order belongs to one sweep only"
    assert difference(a, new_manifest(target, listed((1, 1), (2, 2), (1, 2)), "ray")) is None


@pytest.mark.parametrize("key", [".", ".."])
def test_a_manifest_point_named_like_a_parent_folder_is_refused(tmp_path, key):
    manifest = new_manifest({"kind": "run"}, grid_points({"train.lr": [0.1]}), "local")
    manifest["points"][0]["key"] = key
    (tmp_path / "sweep.json").write_text(json.dumps(manifest))
    with pytest.raises(CorruptFileError, match="is not a sweep manifest"):
        read_manifest(tmp_path)


def _study_output(folder, status, report=None):
    """A case-study point's folder as a driver leaves it: run.json and, when given, a report on record."""
    folder.mkdir(parents=True)
    info = {"status": status, "files": {}}
    if report is not None:
        atomic_write_json(folder / "report.json", report)
        info["files"] = record(folder, ["report.json"])
    atomic_write_json(folder / "run.json", info)
    return folder


def test_a_case_study_point_is_done_only_with_its_report_or_after_diverging(tmp_path):
    assert point_state(_study_output(tmp_path / "a", "complete"), "case_study") == INTERRUPTED  # analysis not written yet
    assert point_state(_study_output(tmp_path / "b", "complete"), "run") == DONE  # a run needs no report
    assert point_state(_study_output(tmp_path / "c", "complete", {"verdict": "pass"}), "case_study") == DONE
    assert point_state(_study_output(tmp_path / "d", "failed", {"verdict": "invalid"}), "case_study") == INTERRUPTED  # failed for another reason: resumable
    assert point_state(_study_output(tmp_path / "e", "failed", {"verdict": "invalid", "diverged": {"step": 3}}), "case_study") == DONE


def test_a_point_being_trained_again_is_running_whatever_the_manifest_recorded(tmp_path):
    folder = tmp_path / "points" / "seed=0"
    create_run_dir(folder, {"status": "running"})  # a live writer: this process
    try:
        assert point_status(tmp_path, {"key": "seed=0", "status": "failed", "error": "ValueError: x"}, "run") == ("running", "")
    finally:
        release(folder)
    assert point_status(tmp_path, {"key": "seed=0", "status": "failed", "error": "ValueError: x\nmore"}, "run") == ("failed", "ValueError: x")


class TwoIndexes:
    """Rows indexed by a layer and rows indexed by a head, and one without an index."""

    name = "two_indexes"

    def __call__(self, model, step, data):
        return [row("probe/by_layer", 1.0 + step, layer=0), row("probe/by_head", 2.0 + step, head=1), row("probe/plain", 3.0 + step)]


def test_a_points_row_holds_the_last_unindexed_values_events_predictions_and_verdict(tmp_path):
    run = train(tiny(), tmp_path / "p", trackers=[TwoIndexes()], progress=False, device="cpu")
    events = [
        {"type": "event", "name": "drop", "step": 5},
        {"type": "prediction", "name": "drop", "step": 7.5},
        {"type": "stage", "name": "plateau", "start": 2, "end": 4},
        {"type": "event", "name": "never", "step": math.nan},
    ]
    atomic_write_json(run.path / "events.json", events)
    atomic_write_json(run.path / "report.json", {"verdict": "fail", "failed_claims": ["a", "b"]})
    run.update_info(files={**run.info.get("files", {}), **record(run.path, ["events.json", "report.json"])})
    got = point_row(run.path, "case_study")
    assert got["final_step"] == 4 and got["probe/plain"] == 7.0
    assert "probe/by_layer" not in got and "probe/by_head" not in got
    assert got["loss/train"] == pytest.approx(run.observable("loss/train").iloc[-1], rel=1e-12)
    assert got["event:drop"] == 5 and got["prediction:drop"] == 7.5 and got["event:plateau"] == 2
    assert "event:never" not in got and "prediction:never" not in got
    assert got["verdict"] == "fail" and got["failed_claims"] == "a;b"
    assert "verdict" not in point_row(run.path, "run")


def test_a_zero_thread_count_is_refused_before_writing(tmp_path):
    with pytest.raises(ConfigError, match="threads must be a positive integer, got 0"):
        bridge.sweep(tiny(), tmp_path / "sw", grid={"train.lr": [1e-3]}, threads=0, progress=False)
    assert not (tmp_path / "sw").exists()


def test_progress_lines_of_a_resumed_sweep_count_the_points_already_done(tmp_path, capsys):
    import shutil

    first = bridge.sweep(tiny(), tmp_path / "sw", grid={"train.lr": [1e-3, 3e-3, 1e-2]}, progress=False, stack=False)
    shutil.rmtree(tmp_path / "sw" / "points" / first.keys[1])
    capsys.readouterr()
    bridge.sweep(tiny(), tmp_path / "sw", grid={"train.lr": [1e-3, 3e-3, 1e-2]}, progress=None, stack=False)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("sweep:")]
    assert len(lines) == 1 and lines[0].startswith("sweep: 3/3 points, elapsed ") and lines[0].endswith(f": {first.keys[1]} done")


@pytest.mark.parametrize(("number", "said"), [(2, "has format 2"), (0, "has format 0"), ("1", "has format '1'"), (True, "has format True"), (1.0, "has format 1.0"), (None, "has no format number")])
def test_a_manifest_of_another_format_is_refused_naming_the_file_and_the_number(tmp_path, number, said):
    manifest = new_manifest({"kind": "run"}, grid_points({"train.lr": [0.1]}), "local")
    manifest["format"] = number
    (tmp_path / "sweep.json").write_text(json.dumps(manifest))
    with pytest.raises(CorruptFileError) as e:
        read_manifest(tmp_path)
    assert str(e.value) == f"{tmp_path / 'sweep.json'} {said}; this version of mechbridge reads sweep format 1 only (a later format needs a later mechbridge)"


def test_a_sweep_of_a_later_format_is_neither_resumed_nor_rewritten(tmp_path, capsys):
    from bridge.cli.app import main

    bridge.sweep(tiny(2), tmp_path / "sw", grid={"train.lr": [0.01]}, progress=False)
    manifest = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    (tmp_path / "sw" / "sweep.json").write_text(json.dumps({**manifest, "format": 2}))
    before = {p: p.read_bytes() for p in (tmp_path / "sw").rglob("*") if p.is_file()}
    with pytest.raises(CorruptFileError, match="sweep.json has format 2; this version"):
        bridge.sweep(tiny(2), tmp_path / "sw", grid={"train.lr": [0.01]}, progress=False)  # the same sweep: it would resume
    assert main(["sweep", "--status", str(tmp_path / "sw")]) == 2
    assert capsys.readouterr().err == f"mechbridge: error: {tmp_path / 'sw' / 'sweep.json'} has format 2; this version of mechbridge reads sweep format 1 only (a later format needs a later mechbridge)\n"
    assert {p: p.read_bytes() for p in (tmp_path / "sw").rglob("*") if p.is_file()} == before
