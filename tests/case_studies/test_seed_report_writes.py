"""A seeds output whose seed report was being written when its process died, or whose write failed: a resume
finishes it, and only temporary files of a gone writer are removed."""

import json
import os

import pytest

from bridge.match import check, match
from bridge.report import BridgeReport
from bridge.runs import storage
from bridge.stages import Event
from case_studies.generality.seeds import run_seeds
from helpers import Killed, kill_writing

GONE = 2**30  # no process has this pid


@pytest.fixture
def stub_study(monkeypatch):
    """Seed studies that report at once (relative errors 0, 0.05, 0.2 against 0.1), so only the seed report is written."""
    import case_studies.base.runner as runner
    from case_studies import get_case_study

    monkeypatch.setattr(type(get_case_study("deep-linear")), "across_seeds", lambda self, outs, preset: [check("seeds compared", float(len(outs)), "—", True, role="info")])
    calls = []

    def study_run(name, preset, out, *, seed, resume, **options):
        calls.append(seed)
        observed = {0: 100.0, 1: 105.0, 2: 120.0}[seed]
        return BridgeReport(name, preset, seed, matches=[match("mode 0", 100.0, Event("rise", observed, observed - 5, observed + 5), None, 0.1, require_mechanism=False)])

    monkeypatch.setattr(runner, "run_case_study", study_run)
    return calls


def _run(out, resume=False):
    return run_seeds("deep-linear", "quick", out, [0, 1, 2], device="cpu", progress=False, stack=False, resume=resume)


def _listing(out):
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))


def test_a_seed_report_temporary_file_left_by_a_killed_writer_is_replaced_on_resume(tmp_path, stub_study):
    out = tmp_path / "s"
    first = _run(out)
    written = {name: (out / name).read_bytes() for name in ("seed_report.json", "seed_report.md", "figures/seed_timeline.png")}
    stale = [out / f".seed_report.json.tmp-{GONE}", out / f".seed_report.md.tmp-{GONE}", out / "figures" / f".seed_timeline.tmp-{GONE}.png"]
    for file in stale:
        file.write_text('{"verdict": "pa')  # cut short where the kill came
    again = _run(out, resume=True)
    assert again.to_dict() == first.to_dict() and stub_study == [0, 1, 2, 0, 1, 2]
    assert not any(file.exists() for file in stale)
    assert _listing(out) == ["figures", "figures/seed_timeline.png", "seed_report.json", "seed_report.md"]
    assert {name: (out / name).read_bytes() for name in written} == written


def test_a_temporary_file_of_a_live_writer_is_left_alone_and_does_not_block_a_resume(tmp_path, stub_study):
    out = tmp_path / "s"
    _run(out)
    live = out / f".seed_report.md.tmp-{os.getppid()}"  # the parent process: alive while this test runs
    live.write_text("# being written")
    _run(out, resume=True)
    assert live.read_text() == "# being written"


def test_a_foreign_file_is_refused_before_a_stale_temporary_file_is_removed(tmp_path, stub_study):
    out = tmp_path / "s"
    _run(out)
    stale = out / f".seed_report.json.tmp-{GONE}"
    stale.write_text("{")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"not part of a seeds output \(notes\.txt\)"):
        _run(out, resume=True)
    assert stale.read_text() == "{"
    assert stub_study == [0, 1, 2]


def test_a_temporary_file_of_another_name_still_makes_a_folder_foreign(tmp_path, stub_study):
    out = tmp_path / "s"
    out.mkdir()
    (out / f".thesis.tex.tmp-{GONE}").write_text("draft")
    with pytest.raises(FileExistsError, match=r"\.thesis\.tex\.tmp-"):
        _run(out, resume=True)
    assert _listing(out) == [f".thesis.tex.tmp-{GONE}"]


@pytest.mark.parametrize("failing", ["seed_timeline", "seed_report.json", "seed_report.md"])
def test_a_seed_report_write_that_fails_at_each_file_leaves_no_temporary_file_and_a_resume_finishes_it(tmp_path, stub_study, monkeypatch, failing):
    """The figure, seed_report.json and seed_report.md are written in turn; a full disk at any of them."""
    from matplotlib.figure import Figure

    out = tmp_path / "s"
    write_all, savefig, tmp_path_of, writing = storage._write_all, Figure.savefig, storage._tmp_path, []

    def full_disk(fd, data):
        write_all(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    def failing_write(fd, data):
        (full_disk if os.path.basename(writing[-1]).startswith(f".{failing}.tmp-") else write_all)(fd, data)

    monkeypatch.setattr(storage, "_tmp_path", lambda path: writing.append(tmp_path_of(path)) or writing[-1])

    def failing_savefig(fig, file, **options):
        savefig(fig, file, **options)
        if failing == "seed_timeline":
            os.truncate(file, 100)
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage, "_write_all", failing_write)
    monkeypatch.setattr(Figure, "savefig", failing_savefig)
    with pytest.raises(OSError, match="No space left"):
        _run(out)
    assert [name for name in _listing(out) if ".tmp-" in name] == []
    assert not (out / f"{failing}.png" if failing == "seed_timeline" else out / failing).exists()  # a first write: nothing before it
    for owner, name, real in ((storage, "_write_all", write_all), (storage, "_tmp_path", tmp_path_of), (Figure, "savefig", savefig)):
        monkeypatch.setattr(owner, name, real)
    report = _run(out, resume=True)
    assert json.loads((out / "seed_report.json").read_text()) == report.to_dict() | {"figures": ["figures/seed_timeline.png"]}
    assert _listing(out) == ["figures", "figures/seed_timeline.png", "seed_report.json", "seed_report.md"]


def test_a_seed_report_whose_markdown_was_not_rewritten_with_its_json_is_refused_and_a_resume_writes_both(tmp_path, stub_study, monkeypatch, capsys):
    """Killed between seed_report.json and seed_report.md, a seeds output held the new verdict beside the old
    table: `report` printed the table of seeds 0-2 (FAIL) and exited 0 on the verdict of seeds 0-1 (PASS)."""
    from bridge.cli.app import main

    out = tmp_path / "s"
    first = _run(out)
    assert first.verdict == "fail"
    assert main(["report", str(out)]) == 1
    figure = "\n![seed timeline](figures/seed_timeline.png)\n"
    assert capsys.readouterr().out == first.to_markdown() + figure + "\n"  # printed without its stamp
    write_text = storage.atomic_write_text
    kill_writing(monkeypatch, "seed_report.md")
    with pytest.raises(Killed):
        run_seeds("deep-linear", "quick", out, [0, 1], device="cpu", progress=False, stack=False, resume=True)
    assert json.loads((out / "seed_report.json").read_text())["verdict"] == "pass" and "**FAIL**" in (out / "seed_report.md").read_text()
    before = {name: (out / name).read_bytes() for name in ("seed_report.json", "seed_report.md")}
    assert main(["report", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == (
        f"mechbridge: error: {out / 'seed_report.md'} was not written with the seed_report.json beside it (its writer was killed between the two, or one was changed since): "
        f"`mechbridge run CASE --preset PRESET --seeds ... --out {out} --resume` writes both again\n"
    )
    assert {name: (out / name).read_bytes() for name in before} == before  # refused, nothing changed
    monkeypatch.setattr(storage, "atomic_write_text", write_text)
    again = run_seeds("deep-linear", "quick", out, [0, 1], device="cpu", progress=False, stack=False, resume=True)
    assert main(["report", str(out)]) == 0
    assert capsys.readouterr().out == again.to_markdown() + figure + "\n" and "**PASS**" in again.to_markdown()
