"""The command line: one-line errors with non-zero exits, and a full quick run."""

import json
import subprocess
import sys

import pytest

from bridge.cli import main
from helpers import WEIGHT_COUNT_PLUGIN, file_hashes


def run_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", *args], capture_output=True, text=True, env={"OMP_NUM_THREADS": "1"})
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["run", "no-such-study"], "unknown case study 'no-such-study'"),
        (["run", "my-study"], "a case study of your own is known once the module that registers it is imported (`import MODULE`, or `mechbridge --import MODULE`)"),
        (["run", "deep-linear", "--preset", "huge"], "no preset 'huge'"),
        (["run", "deep-linear", "--bogus"], "No such option: --bogus"),
        (["run", "deep-linear", "--device", "tpu"], "device must be auto, cpu or cuda"),
        (["run", "deep-linear", "--seed", "-3"], "--seed"),
        (["analyze", "does/not/exist"], "does not exist"),
        (["report", "does/not/exist"], "does not exist"),
        (["analyze", "README.md"], "README.md is a file, not a run directory"),
        (["report", "README.md"], "README.md is a file, not a run directory"),
    ],
)
def test_bad_input_gives_one_line_and_nonzero_exit(args, message):
    code, out, err = run_cli(*args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mechbridge: error:") and message in lines[0]
    assert "Traceback" not in err


def test_run_refuses_existing_directory_and_keeps_it(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("precious")
    assert main(["run", "deep-linear", "--out", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_quick_run_analyze_and_report_end_to_end(tmp_path, capsys):
    out = tmp_path / "dl"
    assert main(["run", "deep-linear", "--preset", "quick", "--out", str(out), "--device", "cpu", "--seed", "1"]) == 0
    assert "pass" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"] == "pass" and report["seed"] == 1 and report["preset"] == "quick"
    for m in report["matches"]:
        assert set(m) >= {"prediction", "predicted_step", "dynamics_event", "observed_step", "mechanism", "mechanism_step", "relative_error", "tolerance", "passed"}
        assert m["relative_error"] <= m["tolerance"] == 0.15
    assert {p.name for p in (out / "figures").iterdir()} == {"mode_trajectories.png", "differentiation.png", "timeline.png"}
    assert main(["analyze", str(out), "--tracker", "loss"]) == 0
    assert main(["analyze", str(out), "--tracker", "loss", "--fresh"]) == 0
    from bridge import load_run
    run = load_run(out)
    assert not run.metrics[run.metrics["observable"].str.startswith("loss/")].duplicated(["observable", "step"]).any()
    assert main(["report", str(out)]) == 0
    assert "PASS" in capsys.readouterr().out
    assert main(["list"]) == 0
    assert "deep-linear" in capsys.readouterr().out



def test_report_reads_only_and_rebuild_gives_the_same_report_and_the_page_block_runs(tmp_path, capsys):
    import re
    from pathlib import Path

    out = tmp_path / "runs" / "deep-linear"
    assert main(["run", "deep-linear", "--out", str(out), "--device", "cpu"]) == 0
    before = file_hashes(out)
    assert main(["report", str(out)]) == 0
    assert file_hashes(out) == before  # printing the stored report writes nothing
    stored = json.loads((out / "report.json").read_text())
    assert main(["report", str(out), "--rebuild"]) == 0
    assert json.loads((out / "report.json").read_text()) == stored  # the same analysis from the same runs
    page = (Path(__file__).resolve().parents[2] / "docs" / "case_studies" / "deep-linear.md").read_text()
    block = re.findall(r"## In a notebook\n\n```python\n(.*?)```", page, re.S)[0]
    done = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, env={"OMP_NUM_THREADS": "1", "PATH": ""})
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "pass" and len(lines) == 5
    for line in lines[:4]:  # "mode m: predicted P, observed O" within the 15% target
        predicted, observed = map(float, re.findall(r"predicted (\d+), observed (\d+)", line)[0])
        assert abs(observed - predicted) <= 0.15 * predicted


def test_version_prints_the_package_version(capsys):
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"mechbridge {version('mechbridge')}"


def test_report_exits_1_on_a_failing_verdict(tmp_path, capsys):
    from bridge.runs.checksums import record

    (tmp_path / "report.json").write_text(json.dumps({"verdict": "fail"}))
    (tmp_path / "report.md").write_text("# failing\n")
    (tmp_path / "run.json").write_text(json.dumps({"files": record(tmp_path, ["report.json", "report.md"])}))  # the record report checks
    assert main(["report", str(tmp_path)]) == 1
    assert "failing" in capsys.readouterr().out


@pytest.mark.parametrize("missing", ["report.json", "report.md"])
def test_report_names_a_recorded_report_file_that_is_missing_and_the_rebuild_that_writes_it(tmp_path, capsys, missing):
    """run.json records the finished report; one of its two files gone was "has no report (run it through
    `mechbridge run`, ...)", as if the run had never had one, where a missing figure or events.json is named."""
    from bridge.runs.checksums import record

    (tmp_path / "report.json").write_text(json.dumps({"verdict": "pass"}))
    (tmp_path / "report.md").write_text("# passing\n")
    files = record(tmp_path, ["report.json", "report.md"])
    (tmp_path / "run.json").write_text(json.dumps({"case_study": "deep-linear", "status": "complete", "files": files}))
    (tmp_path / missing).unlink()
    assert main(["report", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"mechbridge: error: {missing} is missing but run.json records it ({files[missing]['bytes']} bytes); "
        f"`mechbridge report {tmp_path} --rebuild` writes the report again from its runs\n"
    )


def test_log_with_seeds_logs_every_seed_as_its_single_run_does(tmp_path, capsys):
    """`run --seeds --log tensorboard` streams each seed's runs, stacked or not, as `run --seed S --log tensorboard` does
    (it ignored --log: no events anywhere)."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def events(folder):
        acc = EventAccumulator(str(folder))
        acc.Reload()
        return {(e.step, name): e.value for name in acc.Tags()["scalars"] for e in acc.Scalars(name)}

    common = ["--steps", "20", "--device", "cpu", "--quiet", "--log", "tensorboard"]
    main(["run", "deep-linear", "--seed", "1", "--out", str(tmp_path / "single"), *common])
    single = events(tmp_path / "single" / "tensorboard")
    assert single and max(step for step, _ in single) == 20
    for stack in ("--stack", "--no-stack"):
        out = tmp_path / stack
        main(["run", "deep-linear", "--seeds", "0-1", stack, "--out", str(out), *common])
        assert list((out / "seed-0" / "tensorboard").glob("events.out.tfevents.*"))
        seeded = events(out / "seed-1" / "tensorboard")
        assert seeded.keys() == single.keys(), stack
        assert all(seeded[k] == pytest.approx(v, rel=1e-5, abs=1e-7) for k, v in single.items()), stack
    capsys.readouterr()


@pytest.mark.parametrize("seeds", [[], ["--seeds", "0-1"], ["--seeds", "0-1", "--no-stack"]])
def test_an_unknown_logger_is_refused_before_any_work(tmp_path, capsys, seeds):
    out = tmp_path / "out"
    assert main(["run", "deep-linear", *seeds, "--steps", "20", "--device", "cpu", "--quiet", "--log", "bogus", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown logger 'bogus'" in err[0]
    assert not out.exists()


COUNT_PLUGIN = WEIGHT_COUNT_PLUGIN

COUNT_RUN = '''
import countplugin
from bridge import RunConfig, ScheduleConfig, TrainConfig, train
from bridge.models import MLPConfig
from bridge.tasks import LinearTeacherConfig
cfg = RunConfig(task=LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3, n_train=32), model=MLPConfig(d_in=4, d_out=3, widths=(8,)),
                train=TrainConfig(optimizer="adam", lr=0.01, steps=20, schedule=ScheduleConfig(n_log=3, every=10)))
print(train(cfg, "r4", trackers=[countplugin.WeightCount()], progress=False, device="cpu").info["trackers"])
'''


def test_analyze_refuses_recorded_trackers_no_module_registers_and_suggests_import(tmp_path):
    """A run that records a plugin's tracker, analysed without the plugin: one line naming it and --import, exit 2,
    nothing written (it analysed with the other trackers and exited 0, or, with only the plugin's recorded, said the run records none)."""
    from pathlib import Path

    from helpers import timeout

    root = Path(__file__).resolve().parents[2]
    (tmp_path / "countplugin.py").write_text(COUNT_PLUGIN)
    env = {"PYTHONPATH": str(root), "OMP_NUM_THREADS": "1", "PATH": ""}  # the working directory (tmp_path) holds the plugin

    def python(*args):
        return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=timeout(180))

    trained = python("-c", COUNT_RUN)
    assert trained.returncode == 0 and "['loss', 'weight_count']" in trained.stdout, trained.stderr[-2000:]
    only = tmp_path / "r5"
    subprocess.run(["cp", "-r", str(tmp_path / "r4"), str(only)], check=True)
    info = json.loads((only / "run.json").read_text())
    (only / "run.json").write_text(json.dumps({**info, "trackers": ["weight_count"]}))
    for run in ("r4", "r5"):
        before = file_hashes(tmp_path / run)
        refused = python("-m", "bridge.cli", "analyze", run)
        lines = refused.stderr.strip().splitlines()
        assert refused.returncode == 2 and len(lines) == 1, refused.stdout + refused.stderr
        assert lines[0].startswith("mechbridge: error:") and "'weight_count'" in lines[0] and "--import MODULE" in lines[0] and "records none" not in lines[0]
        assert file_hashes(tmp_path / run) == before  # no work done
        done = python("-m", "bridge.cli", "--import", "countplugin", "analyze", run)
        assert done.returncode == 0 and "weight_count" in done.stdout, done.stderr[-2000:]


def test_report_prints_a_seed_report_and_names_what_a_directory_without_a_report_is(tmp_path, capsys):
    """`report` on a --seeds output prints its seed report; on a sweep, a run no case study wrote or a folder
    without run.json it says what the directory is (it said "has no report ... or pass --rebuild", which
    --rebuild then refused)."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "seed_report.json").write_text(json.dumps({"verdict": "partial"}))
    (seeds / "seed_report.md").write_text("# over seeds: PARTIAL\n")
    assert main(["report", str(seeds)]) == 1
    assert capsys.readouterr().out == "# over seeds: PARTIAL\n\n"
    (seeds / "seed_report.json").write_text(json.dumps({"verdict": "pass"}))
    assert main(["report", str(seeds)]) == 0
    nested, loose, interrupted = tmp_path / "study" / "runs" / "aux", tmp_path / "loose" / "runs" / "aux", tmp_path / "killed"
    for folder in (nested, loose, interrupted, tmp_path / "empty"):
        folder.mkdir(parents=True)
    (nested / "run.json").write_text(json.dumps({"status": "complete"}))
    (tmp_path / "study" / "run.json").write_text(json.dumps({"status": "complete", "case_study": "deep-linear", "preset": "quick", "case_seed": 2}))
    (loose / "run.json").write_text(json.dumps({"status": "complete"}))  # under a folder named runs, in no study
    (interrupted / "run.json").write_text(json.dumps({"status": "running", "last_step": 60}))  # its writer gone, no lock
    killed_within = tmp_path / "study" / "runs" / "alpha_3"  # a study's own run: the study is what --resume continues
    killed_within.mkdir()
    (killed_within / "run.json").write_text(json.dumps({"status": "failed", "last_step": 40}))
    (tmp_path / "main-killed").mkdir()
    (tmp_path / "main-killed" / "run.json").write_text(json.dumps({"status": "running", "last_step": 20, "case_study": "deep-linear"}))
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "sweep.json").write_text("{}")
    expected = {
        tmp_path / "sweep": f"{tmp_path / 'sweep'} is a sweep directory, which has no report of its own: `mechbridge sweep --status {tmp_path / 'sweep'}` lists its points, and `mechbridge report {tmp_path / 'sweep'}/points/KEY` prints a point's",
        nested: f"{nested} holds a run that no case study wrote, so it has no report (bridge.load_run reads its metrics); the report of the case study it belongs to is in {tmp_path / 'study'}",
        loose: f"{loose} holds a run that no case study wrote, so it has no report (bridge.load_run reads its metrics)",
        interrupted: f"{interrupted} has no report: its training was interrupted (last recorded step 60); finish it with `mechbridge run CASE --out {interrupted} --resume`",
        killed_within: f"{killed_within} has no report: its training failed (last recorded step 40); finish it with `mechbridge run deep-linear --preset quick --seed 2 --out {tmp_path / 'study'} --resume`",
        tmp_path / "main-killed": f"{tmp_path / 'main-killed'} has no report: its training was interrupted (last recorded step 20); finish it with `mechbridge run deep-linear --out {tmp_path / 'main-killed'} --resume`",
        tmp_path / "empty": f"{tmp_path / 'empty'} is not a run directory (no run.json)",
    }
    for folder, message in expected.items():
        assert main(["report", str(folder)]) == 2
        assert capsys.readouterr().err == f"mechbridge: error: {message}\n"


def test_report_on_a_run_interrupted_while_training_names_the_command_that_resumes_it(tmp_path, capsys):
    """A main run ended by Ctrl-C or a signal (status ``interrupted``) was said to be a run "that no case study
    wrote"; the command that resumes an interrupted run named the study as CASE when the study's record (its own or, for
    one of its runs, the main run's) names it, and dropped the preset, seed and settings that record holds."""
    stamp = {"case_study": "deep-linear", "preset": "full", "case_seed": 7, "settings": ["train.lr=0.05", "model.d_hidden=8 "]}
    killed, within = tmp_path / "killed-main", tmp_path / "study" / "runs" / "aux"
    within.mkdir(parents=True)
    killed.mkdir()
    (killed / "run.json").write_text(json.dumps({"status": "interrupted", "last_step": 30, **stamp}))
    (tmp_path / "study" / "run.json").write_text(json.dumps({"status": "complete", **stamp}))
    (within / "run.json").write_text(json.dumps({"status": "interrupted", "last_step": 10}))
    command = "mechbridge run deep-linear --preset full --seed 7 --set train.lr=0.05 --set 'model.d_hidden=8 '"
    for folder, out, step in [(killed, killed, 30), (within, tmp_path / "study", 10)]:
        assert main(["report", str(folder)]) == 2
        assert capsys.readouterr().err == f"mechbridge: error: {folder} has no report: its training was interrupted (last recorded step {step}); finish it with `{command} --out {out} --resume`\n"


def test_ctrl_c_is_one_line_naming_resume_and_exit_130(monkeypatch, capsys):
    """Ctrl-C during a command prints one line saying how an interrupted run continues (it exited 130 with no
    output: typer turned the KeyboardInterrupt into a silent exit before the handler that prints it)."""
    import bridge.trackers

    def stopped():
        raise KeyboardInterrupt

    monkeypatch.setattr(bridge.trackers, "tracker_names", stopped)
    assert main(["list"]) == 130
    err = capsys.readouterr().err
    assert err == "mechbridge: error: interrupted (Ctrl-C or SIGINT); what was written is kept, and a run stopped this way is recorded as interrupted: the same command with --resume continues it\n"


@pytest.mark.parametrize(
    ("verdict", "passes", "why"),
    [("pass", (True, True, True), ""), ("partial", (True, False, True), " (claims failed: b)"), ("fail", (False, False, True), " (claims failed: a, b)"), ("invalid", (True, True, False), " (preconditions failed: converged)")],
)
def test_run_exits_1_unless_the_report_passes_and_its_line_names_what_failed(tmp_path, capsys, monkeypatch, verdict, passes, why):
    import case_studies
    from bridge.match import check
    from bridge.report import BridgeReport

    a, b, converged = passes
    report = BridgeReport("deep-linear", "quick", 0, checks=[check("a", 1.0, "== 1", a), check("b", 1.0, "== 1", b), check("converged", 1.0, "== 1", converged, role="precondition")])
    monkeypatch.setattr(case_studies, "run_case_study", lambda *args, **kwargs: report)
    out = tmp_path / "out"
    assert main(["run", "deep-linear", "--out", str(out), "--quiet"]) == (0 if verdict == "pass" else 1)
    assert capsys.readouterr().out.strip() == f"deep-linear [quick, seed 0]: {verdict}{why} — report: {out / 'report.md'}"


@pytest.mark.parametrize(("verdicts", "verdict"), [({0: "pass", 1: "pass"}, "pass"), ({0: "pass", 1: "fail"}, "partial")])
def test_run_with_seeds_exits_1_unless_the_seed_report_passes(tmp_path, capsys, monkeypatch, verdicts, verdict):
    import types

    import case_studies.generality.seeds as seeds

    seed_report = types.SimpleNamespace(verdicts=verdicts, verdict=verdict, threshold=0.8)
    monkeypatch.setattr(seeds, "run_seeds", lambda *args, **kwargs: seed_report)
    out = tmp_path / "out"
    assert main(["run", "deep-linear", "--seeds", "0-1", "--out", str(out), "--quiet"]) == (0 if verdict == "pass" else 1)
    passed = sum(v == "pass" for v in verdicts.values())
    assert capsys.readouterr().out.strip() == f"deep-linear [quick, seeds 0-1]: {verdict} — {passed} of 2 seeds pass (threshold 0.80) — report: {out / 'seed_report.md'}"


def test_an_error_naming_a_path_with_a_line_break_is_still_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "two\nlines")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mechbridge: error: run directory ") and err.rstrip().endswith("two lines does not exist")


def test_every_option_that_takes_a_value_names_it_in_the_help():
    """``--set PATH=VALUE``, ``--out DIR``: each option with a value has a metavar (typer would print ``<list[str]>``)."""
    import typer.main

    from bridge.cli.app import app

    group = typer.main.get_command(app)
    for name, cmd in [("mechbridge", group), *group.commands.items()]:
        unnamed = [p.opts[0] for p in cmd.params if not getattr(p, "is_flag", False) and p.opts[0] != "--help" and not p.metavar]
        assert unnamed == [], (name, unnamed)
    assert "--set PATH=VALUE" in group.commands["run"].get_help(typer.Context(group.commands["run"]))


@pytest.mark.parametrize("command", ["list", "run", "robustness", "sweep", "analyze", "report"])
def test_a_commands_help_shows_its_description_without_the_doctests_of_its_docstring(command, capsys):
    """The docstring's Examples are doctests: ``--help`` ran them into its description as one paragraph of ``>>>``."""
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    description = out.split("\n\n")[1]
    assert ">>>" not in out and "Examples:" not in out and "``" not in out
    assert description.strip().split()[0] in ("List", "Run", "Compute", "Print")
    assert out.count("\n\n\n") == 0
