"""Damaged copies of a good case-study output and bad command-line input: each is one clear error
naming the damaged file (or the field, or the option), exit code 2 at the command line, and
nothing on disk changes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from bridge import load_run
from bridge.cli import main
from bridge.runs.errors import CorruptFileError, RunError
from case_studies import run_case_study
from helpers import SMALL_DEEP_LINEAR, file_hashes

SMALL = SMALL_DEEP_LINEAR


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("good") / "run"
    run_case_study("deep-linear", "quick", out, device="cpu", progress=False, settings=SMALL)
    assert load_run(out).status == "complete" and (out / "report.md").exists()
    return out


def cli_error(capsys, args: list[str], folder: Path | None = None) -> str:
    """Run the command line; assert exit 2, exactly one line on stderr and no change under ``folder``."""
    before = file_hashes(folder) if folder is not None else None
    code = main(args)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, (args, err)
    assert len(lines) == 1 and lines[0].startswith("mechbridge: error: "), err
    if folder is not None:
        assert file_hashes(folder) == before, f"{args} changed files on disk"
    return lines[0]


def copy(good: Path, tmp_path: Path, damage) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(good, out)
    damage(out)
    return out


def edit_info(change):
    def damage(out: Path) -> None:
        info = json.loads((out / "run.json").read_text())
        change(info)
        (out / "run.json").write_text(json.dumps(info))

    return damage


def last_checkpoint(out: Path) -> Path:
    return sorted((out / "checkpoints").glob("step_*.safetensors"))[-1]


def rewrite_checkpoint(change):
    def damage(out: Path) -> None:
        file = last_checkpoint(out)
        tensors = load_file(str(file))
        save_file(change(tensors), str(file))

    return damage


def flip_a_bit_of_the_last_checkpoint(out: Path) -> None:
    data = bytearray(last_checkpoint(out).read_bytes())
    data[-5] ^= 0x10  # inside the last tensor's values: the file still parses, with one value changed
    last_checkpoint(out).write_bytes(bytes(data))


def truncate(name: str, cut: int = 7):
    def damage(out: Path) -> None:
        data = (out / name).read_bytes()
        (out / name).write_bytes(data[:-cut])

    return damage


def test_a_truncated_metrics_table_is_named_and_never_used(good, tmp_path, capsys):
    out = copy(good, tmp_path, truncate("metrics.csv"))
    with pytest.raises(CorruptFileError, match="metrics.csv has .* bytes but run.json records"):
        _ = load_run(out).metrics
    for args in (["report", str(out)], ["report", str(out), "--rebuild"], ["analyze", str(out)]):
        assert "metrics.csv" in cli_error(capsys, args, out)


@pytest.mark.parametrize(
    "damage,file,what",
    [
        (rewrite_checkpoint(lambda t: {k: (v[:3] if k == "weights.0" else v).contiguous() for k, v in t.items()}), "step_", "tensor 'weights.0' has shape (3, 16), the model expects (32, 16)"),
        (rewrite_checkpoint(lambda t: {k: v.to(torch.int64) for k, v in t.items()}), "step_", "has dtype int64, the model expects float32"),
        (rewrite_checkpoint(lambda t: {k: v for k, v in t.items() if k != "weights.1"}), "step_", "missing ['weights.1']"),
        (edit_info(lambda i: i["config"]["model"].update(d_hidden=16)), "step_00000000.safetensors", "has shape (32, 16), the model expects (16, 16)"),
        (flip_a_bit_of_the_last_checkpoint, "step_", "does not match the checksum it was saved with"),
    ],
    ids=["wrong-shape", "int64", "missing-tensor", "run.json-width", "one-bit"],
)
def test_checkpoints_that_do_not_fit_the_model_name_the_file_and_the_tensor(good, tmp_path, capsys, damage, file, what):
    out = copy(good, tmp_path, damage)
    run = load_run(out)
    step = run.steps[-1] if file == "step_" else 0
    with pytest.raises(CorruptFileError) as error:
        run.model_at(step)
    assert file in str(error.value) and what in str(error.value)
    line = cli_error(capsys, ["analyze", str(out)], out)
    assert file in line and what in line


@pytest.mark.parametrize(
    "damage,command,message",
    [
        (edit_info(lambda i: i.update(preset=["quick"])), ["report", "--rebuild"], "'preset' must be a name, got ['quick']"),
        (edit_info(lambda i: i.update(case_seed="0")), ["report", "--rebuild"], "'case_seed' must be an integer"),
        (edit_info(lambda i: i.update(case_seed=True)), ["report", "--rebuild"], "'case_seed' must be an integer, got True"),
        (edit_info(lambda i: i.update(trackers=5)), ["analyze"], "'trackers' must be a list of tracker names, got 5"),
        (edit_info(lambda i: i["config"]["model"].update(d_hidden=32.5)), ["analyze"], "d_hidden must be an integer, got 32.5"),
        (edit_info(lambda i: i["config"]["task"].update(depth=3)), ["analyze"], "holds a config that cannot be analysed"),
        (edit_info(lambda i: i["config"]["task"].update(depth=3)), ["report", "--rebuild"], "holds a config that cannot be analysed"),
        (edit_info(lambda i: i.update(files=[1])), ["report"], "not a run record"),
        (edit_info(lambda i: i["files"].update({"report.md": 5})), ["report"], "run.json's record of report.md is malformed"),
        (lambda out: (out / "run.json").write_text("{nope"), ["report"], "run.json is not valid JSON"),
        (lambda out: (out / "run.json").write_text("{nope"), ["analyze"], "run.json is not valid JSON"),
        (lambda out: (out / "run.json").write_text("[]"), ["analyze"], "is not a run record"),
    ],
    ids=["preset-list", "seed-string", "seed-bool", "trackers-int", "width-float", "depth-analyze", "depth-rebuild", "files-list", "record-int", "json-report", "json-analyze", "json-list"],
)
def test_a_damaged_run_json_names_the_file_and_the_field(good, tmp_path, capsys, damage, command, message):
    out = copy(good, tmp_path, damage)
    line = cli_error(capsys, [command[0], str(out), *command[1:]], out)
    assert message in line and "run.json" in line


@pytest.mark.parametrize(
    "damage,name",
    [
        (lambda out: (out / "events.json").write_text("{}"), "events.json"),
        (truncate("report.json"), "report.json"),
        (lambda out: (out / "report.md").write_text("# PASS\n"), "report.md"),
        (lambda out: (out / "figures" / "timeline.png").write_bytes(b"\x89PNG"), "figures/timeline.png"),
        (lambda out: (out / "figures" / "timeline.png").unlink(), "figures/timeline.png"),
    ],
    ids=["events-dict", "report-cut", "report-md-changed", "figure-damaged", "figure-missing"],
)
def test_a_damaged_report_file_is_named_by_report(good, tmp_path, capsys, damage, name):
    out = copy(good, tmp_path, damage)
    line = cli_error(capsys, ["report", str(out)], out)
    assert name in line and line.endswith("--rebuild` writes the report again from its runs")
    if name in ("events.json", "report.json"):
        with pytest.raises(CorruptFileError, match=name):
            getattr(load_run(out), name.split(".")[0] if name == "report.json" else "events")


def test_a_report_set_not_finished_is_not_trusted_by_load_run_or_report(good, tmp_path, capsys):
    def interrupted(out: Path) -> None:  # killed after report.json, before report.md and the record
        edit_info(lambda i: i.update(files={k: v for k, v in i["files"].items() if k == "metrics.csv"}))(out)
        (out / "report.md").unlink()

    out = copy(good, tmp_path, interrupted)
    with pytest.raises(CorruptFileError, match="report.json .* is not on record in run.json"):
        _ = load_run(out).report
    assert "has no report" in cli_error(capsys, ["report", str(out)], out)
    (out / "report.md").write_text((good / "report.md").read_text())
    assert "has no finished report" in cli_error(capsys, ["report", str(out)], out)


def test_an_orphan_directory_is_named_as_not_a_run(tmp_path, capsys):
    orphan = tmp_path / "orphan"
    (orphan / "checkpoints").mkdir(parents=True)
    assert "not a run directory" in cli_error(capsys, ["analyze", str(orphan)], orphan)
    assert "is not a run directory (no run.json)" in cli_error(capsys, ["report", str(orphan)], orphan)
    assert "not a run directory" in cli_error(capsys, ["run", "deep-linear", "--out", str(orphan), "--resume", "--device", "cpu"], orphan)
    (orphan / "run.json").mkdir()  # a folder where the record should be
    for args in (["analyze", str(orphan)], ["report", str(orphan), "--rebuild"], ["run", "deep-linear", "--out", str(orphan), "--resume"]):
        assert "run.json" in cli_error(capsys, args, orphan)


def test_a_report_whose_run_json_is_gone_is_not_printed(good, tmp_path, capsys):
    out = copy(good, tmp_path, lambda out: (out / "run.json").unlink())  # report.json and report.md left, their record gone
    assert cli_error(capsys, ["report", str(out)], out).endswith(f"{out} is not a run directory (no run.json)")


def test_an_unknown_tracker_asked_for_names_the_known_ones_and_how_to_import_ones_own(good, tmp_path, capsys):
    out = copy(good, tmp_path, lambda out: None)
    line = cli_error(capsys, ["analyze", str(out), "--tracker", "param_norm"], out)
    assert "unknown tracker 'param_norm' (known: coordinates, " in line and line.endswith(f"`mechbridge --import MODULE analyze {out} --tracker NAME`")


def test_a_tracker_named_twice_is_measured_once(good, tmp_path, capsys):
    out = copy(good, tmp_path, lambda out: None)
    assert main(["analyze", str(out), "--tracker", "loss", "--tracker", "loss"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"checkpoints of {out} with loss")


def test_a_tracker_that_does_not_fit_the_model_is_one_line(good, tmp_path, capsys):
    out = copy(good, tmp_path, lambda out: None)
    assert "coordinates tracker needs an MLP" in cli_error(capsys, ["analyze", str(out), "--tracker", "coordinates"], out)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--seed", str(10**30)], "'--seed'"),
        (["--set", "train.lr=abc"], "train.lr"),
        (["--set", "train.batch_size=2.5"], "batch_size"),
        (["--set", "train.threads=1.5"], "threads"),
        (["--set", "train.schedule.n_log=2.5"], "n_log"),
        (["--set", "model.d_hidden=8.5"], "d_hidden"),
        (["--set", "train.steps=true"], "steps"),
        (["--set", "train.nosuch=1"], "nosuch"),
        (["--steps", "0"], "--steps"),
        (["--set", "train.threads=100000"], "train.threads=100000 exceeds the"),
        (["--set", "train.betas=[1,"], "train.betas must be a list"),
        (["--set", "model.d_out=5"], "--set model.d_out=5 changes no run of 'deep-linear'"),
    ],
)
def test_bad_run_options_are_one_line_naming_the_option(tmp_path, capsys, args, message):
    line = cli_error(capsys, ["run", "deep-linear", "--out", str(tmp_path / "new"), "--device", "cpu", *args])
    assert message in line
    assert not (tmp_path / "new").exists()


def test_bad_output_locations_are_one_line_and_touch_nothing(good, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert "is a file" in cli_error(capsys, ["run", "deep-linear", "--out", str(tmp_path / "afile")], tmp_path)
    assert "afile is a file, not a directory" in cli_error(capsys, ["run", "deep-linear", "--out", str(tmp_path / "afile" / "below")], tmp_path)
    line = cli_error(capsys, ["run", "deep-linear", "--out", str(good)], good)
    assert "already exists" in line and "--resume" in line
    if os.geteuid() != 0:  # permissions do not bind the superuser
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert "Permission denied" in cli_error(capsys, ["run", "deep-linear", "--out", str(locked / "run"), "--device", "cpu", "--steps", "2"], locked)


def test_report_exits_1_on_a_failing_verdict_and_0_on_a_passing_one(good, tmp_path, capsys):
    verdict = json.loads((good / "report.json").read_text())["verdict"]
    assert main(["report", str(good)]) == (0 if verdict == "pass" else 1)
    assert capsys.readouterr().err == ""


def test_errors_of_the_api_are_the_run_errors(tmp_path):
    with pytest.raises(RunError, match="does not exist"):
        load_run(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match="not a run directory"):
        load_run(tmp_path / "empty")


@pytest.mark.parametrize(
    "damage",
    [
        truncate("report.json"),
        lambda out: (out / "report.json").write_text('{"verdict": "pass"}'),
        edit_info(lambda i: i.update(files={k: v for k, v in i["files"].items() if k != "report.json"})),  # killed before the record
    ],
    ids=["report-cut", "report-replaced", "report-off-record"],
)
def test_rebuild_rewrites_a_damaged_or_unfinished_report_to_the_original(good, tmp_path, capsys, damage):
    out = copy(good, tmp_path, damage)
    original = json.loads((good / "report.json").read_text())
    exit_code = 0 if original["verdict"] == "pass" else 1
    assert main(["report", str(out), "--rebuild"]) == exit_code
    assert json.loads((out / "report.json").read_text()) == original
    assert main(["report", str(out)]) == exit_code  # on record again
    assert "mechbridge: error" not in capsys.readouterr().err


def test_rebuild_of_a_killed_run_says_to_resume_it(good, tmp_path, capsys):
    def killed(out: Path) -> None:  # a writer that died during training, as an earlier version left it: status running, no stamp, no lock holder alive
        edit_info(lambda i: [i.update(status="running", last_step=60), [i.pop(k, None) for k in ("case_study", "preset", "case_seed", "settings")]])(out)

    out = copy(good, tmp_path, killed)
    line = cli_error(capsys, ["report", str(out), "--rebuild"], out)
    assert "interrupted at step 60" in line and "--resume" in line


def test_a_model_too_large_for_memory_is_one_line(tmp_path, capsys, monkeypatch):
    import bridge.training.inputs as inputs

    def too_large(config, data):  # what torch's CPU allocator raises for a size it cannot give (not tried for real: with overcommit it may succeed and fill memory)
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: you tried to allocate 6400000000000 bytes")

    monkeypatch.setattr(inputs, "build_for_task", too_large)
    line = cli_error(capsys, ["run", "deep-linear", "--out", str(tmp_path / "new"), "--set", "model.d_hidden=100000000000"])
    assert "do not fit in memory" in line and "6400000000000 bytes" in line
    assert not (tmp_path / "new").exists()


def test_a_figure_that_fails_costs_the_figures_and_not_the_report(good, tmp_path, monkeypatch):
    from case_studies import get_case_study, rebuild_report

    def broken(self, runs, report, preset):
        raise ValueError("Data cannot be log-scaled because all values are <= 0.")

    out = copy(good, tmp_path, lambda out: [(out / name).unlink() for name in ("report.json", "report.md", "events.json")])
    monkeypatch.setattr(type(get_case_study("deep-linear")), "figures", broken)
    with pytest.warns(RuntimeWarning, match=r"deep-linear: figures not drawn \(ValueError: Data cannot be log-scaled"):
        report = rebuild_report(out)
    original, written = json.loads((good / "report.json").read_text()), json.loads((out / "report.json").read_text())
    assert original["figures"] and written["figures"] == report.figures == []
    assert written["notes"] == [*original["notes"], "figures not drawn: ValueError: Data cannot be log-scaled because all values are <= 0."]
    assert {k: v for k, v in written.items() if k not in ("figures", "notes")} == {k: v for k, v in original.items() if k not in ("figures", "notes")}
    assert (out / "events.json").read_bytes() == (good / "events.json").read_bytes()
    assert "figures not drawn: ValueError" in (out / "report.md").read_text()
    assert main(["report", str(out)]) == (0 if original["verdict"] == "pass" else 1)  # the set is on record
