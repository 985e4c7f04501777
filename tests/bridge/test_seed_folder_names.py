"""Seed runs are named ``seed_S`` by bridge.train_seeds and ``seed-S`` by `mechbridge run --seeds`: every reader
opens either, and a parent folder of seed runs, or a resume that would miss them, is one clear error naming them."""

import shutil

import pytest

from bridge import RunConfig, RunError, TrainConfig, load_run
from bridge.cli import main
from bridge.models import DeepLinearConfig
from bridge.runs.run import runs_within
from bridge.tasks import LinearTeacherConfig
from bridge.training.seeds import train_seeds

CFG = RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(lr=0.1, steps=3))


@pytest.fixture(scope="module")
def seeds_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("seeds") / "sweep"
    train_seeds(CFG, [0, 1], out, device="cpu", progress=False)
    return out


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_seed_run_reads_the_same_under_either_name(seeds_out, tmp_path):
    dashed = tmp_path / "seed-0"
    shutil.copytree(seeds_out / "seed_0", dashed)
    a, b = load_run(seeds_out / "seed_0"), load_run(dashed)
    assert a.status == b.status == "complete" and a.steps == b.steps == [0, 1, 2, 3] and a.config == b.config
    assert a.metrics.equals(b.metrics)


def test_the_parent_of_seed_runs_is_refused_naming_the_runs_it_holds(seeds_out, capsys):
    with pytest.raises(RunError, match=r"is not a run directory \(no run\.json\); it holds the run directories seed_0, seed_1: open one of them \(.*seed_0\)"):
        load_run(seeds_out)
    before = _files(seeds_out)
    for command, said in (("report", f"`mechbridge report {seeds_out / 'seed_0'}` prints one's report"), ("analyze", "it holds the run directories seed_0, seed_1")):
        assert main([command, str(seeds_out)]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and said in lines[0], lines
    assert _files(seeds_out) == before


def test_runs_within_lists_run_directories_of_either_name_in_seed_order(tmp_path):
    for name in ("seed_10", "seed-2", "seed_1", "figures"):
        (tmp_path / name).mkdir()
        if name != "figures":
            (tmp_path / name / "run.json").write_text("{}")
    assert runs_within(tmp_path) == ["seed_1", "seed-2", "seed_10"]


def test_a_seeds_output_without_its_seed_report_names_its_runs_and_the_resume_that_writes_it(seeds_out, tmp_path, capsys):
    out = tmp_path / "study"
    for s in (0, 1):
        shutil.copytree(seeds_out / f"seed_{s}", out / f"seed-{s}")
    assert main(["report", str(out)]) == 2
    line = capsys.readouterr().err.strip()
    assert f"`mechbridge report {out / 'seed-0'}`" in line and "its seed report is missing" in line and "--resume" in line


def test_resuming_train_seeds_beside_runs_named_seed_dash_s_is_refused_and_trains_nothing(seeds_out, tmp_path):
    out = tmp_path / "study"
    for s in (0, 1):
        shutil.copytree(seeds_out / f"seed_{s}", out / f"seed-{s}")
    before = _files(out)
    with pytest.raises(RunError, match=r"holds seed-0, not seed_0 .*pass folders="):
        train_seeds(CFG, [0, 1], out, device="cpu", progress=False, resume=True)
    assert _files(out) == before and sorted(p.name for p in out.iterdir()) == ["seed-0", "seed-1"]
    runs = train_seeds(CFG, [0, 1], out, device="cpu", progress=False, resume=True, folders=[out / "seed-0", out / "seed-1"])
    assert [r.path.name for r in runs] == ["seed-0", "seed-1"] and _files(out) == before  # complete: nothing to train


def test_a_seeds_study_resumed_in_a_folder_of_train_seeds_runs_says_which_names_it_expects(seeds_out):
    from case_studies.generality.seeds import run_seeds

    before = _files(seeds_out)
    with pytest.raises(FileExistsError, match=r"\(seed_0, seed_1\) \(seed_0 is a run of bridge\.train_seeds; a seeds output names seed S seed-S\)"):
        run_seeds("deep-linear", "quick", seeds_out, [0, 1], device="cpu", progress=False, resume=True)
    assert _files(seeds_out) == before


def test_a_seeds_output_whose_seed_report_has_its_json_but_not_its_markdown_names_the_resume_that_writes_it(seeds_out, tmp_path, capsys):
    out = tmp_path / "study"
    for s in (0, 1):
        shutil.copytree(seeds_out / f"seed_{s}", out / f"seed-{s}")
    (out / "seed_report.json").write_text('{"verdict": "pass"}')  # its writer was killed before seed_report.md
    assert main(["report", str(out)]) == 2
    line = capsys.readouterr().err.strip()
    assert f"`mechbridge report {out / 'seed-0'}`" in line and "its seed report is missing" in line and "--resume" in line


def _study(seeds_out, tmp_path, settings):
    """A seeds output of the deep-linear study (its runs' records name it), seeds 0 and 1."""
    import json

    out = tmp_path / "study"
    for s in (0, 1):
        shutil.copytree(seeds_out / f"seed_{s}", out / f"seed-{s}")
        info = json.loads((out / f"seed-{s}" / "run.json").read_text())
        (out / f"seed-{s}" / "run.json").write_text(json.dumps(info | {"case_study": "deep-linear", "preset": "quick", "settings": settings}))
    return out


@pytest.mark.parametrize("damage", ["rebuild", "invalid json", "no markdown"])
def test_a_seeds_output_names_the_command_that_writes_its_seed_report_again(seeds_out, tmp_path, capsys, damage):
    """`report --rebuild` does not write a seed report, and `--rebuild` was the hint for a damaged one: each
    error spells out the resume of the study's own seeds and settings, which does write it."""
    out = _study(seeds_out, tmp_path, ["model.d_hidden=8", "train.lr=0.05"])
    (out / "seed_report.json").write_text('{"verdict": "pass"}' if damage != "invalid json" else "{}")
    if damage != "no markdown":
        (out / "seed_report.md").write_text("# PASS\n")
    before = _files(out)
    assert main(["report", str(out), *(["--rebuild"] if damage == "rebuild" else [])]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    command = f"`mechbridge run deep-linear --preset quick --seeds 0,1 --set model.d_hidden=8 --set train.lr=0.05 --out {out} --resume`"
    assert len(lines) == 1 and command in lines[0], lines
    assert "with --rebuild" not in lines[0]
    assert _files(out) == before


@pytest.mark.parametrize(
    "record, run_folder, message",
    [
        ("sweep.json", "points/train.lr=0.1__seed=0", r"is a sweep directory, not a run directory: its runs are points/KEY inside it, such as .*points/train\.lr=0\.1__seed=0 \(bridge\.load_sweep\(.*\) reads the sweep\)$"),
        ("robustness.json", "train.lr=0.1/seed-0", r"is a robustness directory, not a run directory: its runs are NEIGHBOUR/seed-S inside it, such as .*train\.lr=0\.1/seed-0$"),
        ("universality.json", "width-64/seed-0", r"is a hidden-width directory, not a run directory: its runs are width-W/seed-S inside it, such as .*width-64/seed-0$"),
    ],
)
def test_a_sweep_robustness_or_width_folder_opened_as_a_run_names_where_its_runs_are(tmp_path, capsys, record, run_folder, message):
    """They were answered "is not a run directory (no run.json)" alone, although their runs lie two levels down."""
    (tmp_path / record).write_text("{}")
    (tmp_path / run_folder).mkdir(parents=True)
    (tmp_path / run_folder / "run.json").write_text("{}")
    with pytest.raises(RunError, match=message):
        load_run(tmp_path)
    assert main(["analyze", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().endswith(run_folder + ("" if record != "sweep.json" else f" (bridge.load_sweep({str(tmp_path)!r}) reads the sweep)"))
