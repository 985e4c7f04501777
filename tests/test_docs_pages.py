"""The landing, sweeps, seeds and run-directories pages run as written: their commands and Python blocks, in a
fresh folder, and the numbers the prose gives for them."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import page_blocks, page_table, timeout

ROOT = Path(__file__).resolve().parents[1]


def _mechbridge(command: str, cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    """A ``mechbridge ...`` command of a page (continued lines joined), with ``extra`` options, run here."""
    argv = shlex.split(command.replace("\\\n", " "))
    assert argv[0] == "mechbridge", command
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "bridge.cli", *argv[1:], *extra], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout(300))


def test_the_resume_points_example_of_run_directories_prints_what_the_page_shows():
    (block,) = [b for b in page_blocks("run-directories.md") if ">>> " in b]
    code, shown = [line[4:] for line in block.splitlines() if line.startswith(">>> ")], block.strip().splitlines()[-1]
    scope: dict = {}
    exec("\n".join(code[:-1]), scope)
    assert repr(eval(code[-1], scope)) == shown


@pytest.mark.slow
def test_the_sweeps_page_runs_and_its_table_says_what_the_prose_does(tmp_path):
    sweep_command, status_command = page_blocks("sweeps.md", "bash")[:2]
    done = _mechbridge(sweep_command, tmp_path, "--device", "cpu")
    assert done.returncode == 0, done.stderr[-2000:]
    status = _mechbridge(status_command, tmp_path)
    assert status.stdout.strip().splitlines()[-1] == "4 points: 4 done", status.stdout
    read, over_config = page_blocks("sweeps.md")[:2]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    check = """
t = sweep.table.set_index(["train.lr", "seed"])
assert list(t["verdict"]) == ["invalid", "invalid", "pass", "pass"], t["verdict"]  # 200 steps at lr=0.05 leave the finest level unlearned
ratio = t.loc[0.05, "event:mode 0 half-rise"] / t.loc[0.1, "event:mode 0 half-rise"]
assert ((1.8 < ratio) & (ratio < 2.2)).all(), ratio  # the half-rise time halves when the learning rate doubles
assert run.report["verdict"] == "pass" and len(table) == 4
"""
    first = subprocess.run([sys.executable, "-c", read + check], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout(120))
    assert first.returncode == 0, first.stderr[-2000:]
    check = '\nloss = sweep.table.groupby("train.lr")["loss/train"].mean()\nassert loss[0.1] < loss[0.05] < loss[0.02], loss\n'
    second = subprocess.run([sys.executable, "-c", over_config + check], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout(300))
    assert second.returncode == 0, second.stderr[-2000:]
    assert len(list((tmp_path / "sweeps" / "lr" / "points").iterdir())) == 12


def _python(code: str, cwd: Path, seconds: float) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout(seconds))
    assert done.returncode == 0, done.stderr[-3000:]


def _the_universality_pages_deep_linear_table_is_the_seed_report(path: Path) -> None:
    """The universality page's table over deep-linear seeds 0-9 gives the seed report's numbers, to the digits shown."""
    import json

    stored = json.loads(path.read_text())
    table = {r["row"]: r for r in page_table("universality.md", "| row | mean | s.d. |")}
    written = {"mode 0 half-rise (relative error)": "mode 0 half-rise", "mode 15 half-rise (relative error)": "mode 15 half-rise",
               "modes learned in order of strength": "modes learned in order of strength (fraction of ordered pairs)"}
    written.update({k: n for k in table for n in stored["rows"] if k.startswith("level 4 modes") and n.startswith("level 4 modes")})
    assert len(written) == 4, written
    for shown, name in written.items():
        row = stored["rows"][name]
        for column, key in (("mean", "mean"), ("s.d.", "std"), ("min", "min"), ("max", "max")):
            assert abs(float(table[shown][column]) - row[key]) <= 0.0006, (shown, column, row[key])
        assert float(table[shown]["pass fraction"]) == row["pass_fraction"], shown
    across = {c["name"]: c for c in stored["across_seeds"]}
    (cka,) = [c for n, c in across.items() if n.startswith("every pair of 10 seeds")]
    (gap,) = [c for n, c in across.items() if n.startswith("CKA(seed a at step t")]
    (settle,) = [c for n, c in across.items() if n.startswith("steps where CKA")]
    assert abs(float(table["every pair of 10 seeds: min debiased CKA at the end"]["mean"]) - cka["value"]) <= 6e-6 and cka["passed"]
    (gap_row,) = [r for k, r in table.items() if k.startswith("CKA(seed a at step t")]
    assert abs(float(gap_row["mean"]) - gap["value"]) <= 0.0006 and gap["passed"]
    (settle_row,) = [r for k, r in table.items() if k.startswith("steps where that CKA settles")]
    assert settle_row["mean"] == settle["value"].replace("0.5: ", "").replace("; 0.9: ", " / "), (settle_row["mean"], settle["value"])


@pytest.mark.slow
def test_the_seeds_page_blocks_run_and_every_seed_and_width_passes(tmp_path):
    """The widths block runs on seed 0 alone (the page's three seeds take minutes); the seeds block as written; the
    notebook block reads both outputs back, and a robustness output of one neighbour and seed (60 steps)."""
    seeds, widths, notebook = page_blocks("seeds-and-robustness.md")
    check = '\nassert report.pass_fraction == 1.0 and report.rows["modes learned in order of strength (fraction of ordered pairs)"]["mean"] == 1.0\n'
    _python(seeds + check, tmp_path, 300)
    _the_universality_pages_deep_linear_table_is_the_seed_report(tmp_path / "runs" / "dl-seeds" / "seed_report.json")
    assert widths.count("seeds=[0, 1, 2]") == 1
    check = '\nassert result["universality"].value > 0.9999 and {w: r.verdict for w, r in result["seed_reports"].items()} == {64: "pass", 128: "pass", 256: "pass"}\n'
    _python(widths.replace("seeds=[0, 1, 2]", "seeds=[0]") + check, tmp_path, 300)
    robust = _mechbridge("mechbridge robustness deep-linear --neighbours 1 --seeds 0 --set train.steps=60 --set train.schedule.n_log=12 --out runs/dl-robust", tmp_path, "--quiet", "--device", "cpu")
    assert robust.returncode in (0, 1), robust.stderr[-2000:]
    check = """
import json
stored = json.loads(open("runs/dl-seeds/seed_report.json").read())
assert report.to_dict() == stored and report.verdict == "pass" and sorted(runs) == list(range(10))
assert fractions.to_dict() == {name: row["pass_fraction"] for name, row in stored["rows"].items()}
assert {s: (run.report["seed"], run.report["verdict"]) for s, run in runs.items()} == {s: (s, v) for s, v in report.verdicts.items()}
assert robust.data == json.loads(open("runs/dl-robust/robustness.json").read()) and by_neighbour.sum() == len(robust.data["runs"]) == 1
assert widths.widths == {64: "pass", 128: "pass", 256: "pass"} and widths.row.value > 0.9999 and widths.seed_report(64).seeds == [0]
"""
    (said,) = [line.split("# ")[1] for line in notebook.splitlines() if line.startswith("by_neighbour = robust.table()")]
    check += f"assert list(robust.table().columns) == {said.split(', ')!r}, list(robust.table().columns)  # the columns the page lists\n"
    _python(notebook + check, tmp_path, 120)


@pytest.mark.slow
def test_the_logger_example_of_the_sweeps_page_writes_both_loggers_files(tmp_path):
    pytest.importorskip("tensorboard")
    pytest.importorskip("wandb")
    (block,) = [b for b in page_blocks("sweeps.md") if "loggers=" in b]
    _python(block, tmp_path, 300)
    run = tmp_path / "runs" / "x"
    assert list((run / "tensorboard").glob("events.out.tfevents.*")) and list((run / "wandb").glob("offline-run-*"))


@pytest.mark.slow
def test_the_notebook_block_of_the_landing_page_reads_a_deep_linear_run(tmp_path):
    from case_studies import run_case_study

    run_case_study("deep-linear", "quick", tmp_path / "runs" / "deep-linear", device="cpu", progress=False)
    (block,) = page_blocks("index.md")
    check = '\nsteps, values = run.curve("mode/strength", mode=0)\nassert run.report["verdict"] == "pass" and len(steps) == len(run.steps) and abs(values[-1] - 1.392) < 0.01\n'
    _python(block + check, tmp_path, 120)


@pytest.mark.slow
def test_the_run_directories_page_extends_a_finished_run_and_records_the_extension_it_shows(tmp_path):
    import json
    import re

    (block,) = page_blocks("run-directories.md", "bash")
    first, second = block.strip().splitlines()
    assert _mechbridge(first, tmp_path, "--quiet", "--device", "cpu").returncode in (0, 1)  # 300 steps may leave a mode unlearned: invalid
    done = _mechbridge(second, tmp_path, "--quiet", "--device", "cpu")
    assert done.returncode == 0, done.stderr[-2000:]
    (shown,) = re.findall(r'\(`(\[\{"from": \d+, "to": \d+\}\])`\)', (ROOT / "docs" / "run-directories.md").read_text())
    record = json.loads((tmp_path / "runs" / "dl" / "run.json").read_text())
    assert record["extended"] == json.loads(shown) == [{"from": 300, "to": 1200}] and record["last_step"] == 1200
    assert json.loads((tmp_path / "runs" / "dl" / "report.json").read_text())["extended"] == json.loads(shown)
