"""`mechbridge report` on an output that holds a table over many runs: a robustness output prints its
robustness.md (checked against the robustness.json written with it) and a run over hidden widths a summary of its
universality.json; each exits 0 only when everything it judges passes, and a missing, damaged or half-written
table is refused in one line naming the command that writes it again."""

import hashlib
import json

import pytest

import case_studies.generality.robustness as rob
from bridge.cli import main
from bridge.cli.run_tables import robustness_again
from bridge.match import check
from bridge.report import BridgeReport, _row
from bridge.runs import storage
from bridge.runs.checksums import stamp
from case_studies.generality.robustness import to_markdown
from helpers import Killed, file_hashes, kill_writing


def _run(out, monkeypatch, passes, **options):
    """A robustness output of two neighbours × seeds 0, 1 whose runs pass where ``passes(seed)`` (no training)."""
    monkeypatch.setattr(rob, "train_neighbour", lambda name, preset, seed, settings, key, folder, **kw: BridgeReport(name, preset, seed, checks=[check("a", 1.0, "== 1", passes(seed))]))
    return rob.run_robustness("deep-linear", "quick", out, n_neighbours=2, seeds=[0, 1], draw_seed=3, device="cpu", progress=False, settings=["train.steps=60"], **options)


def _again(out):
    return f"mechbridge robustness deep-linear --preset quick --neighbours 2 --seeds 0,1 --draw-seed 3 --set train.steps=60 --out {out} --resume"


def _table(verdicts, **fields):
    runs = [{"neighbour": "train.lr=0.1", "seed": s, "verdict": v, "failed_claims": [] if v == "pass" else ["a"], "failed_preconditions": [], "not_reached": False, "extended_to": None, "error": None}
            for s, v in enumerate(verdicts)]
    fraction = sum(v == "pass" for v in verdicts) / len(verdicts) if verdicts else 0.0
    table = {"case_study": "deep-linear", "preset": "quick", "runs": runs, "rows": {"a": {"pass_fraction": fraction, "runs": len(runs)}}, "neighbours": {"train.lr=0.1": fraction},
             "pass_fraction": fraction, "seeds": list(range(len(verdicts))), "draw_seed": 0, "settings": [], "budget": None, "markdown_stamped": True}
    return table | fields


def _write(out, table, stamped=True):
    """``robustness.json`` and ``robustness.md`` as the writer leaves them (an older writer: no stamp)."""
    out.mkdir(parents=True, exist_ok=True)
    data = storage.json_bytes(table)
    (out / "robustness.json").write_bytes(data)
    (out / "robustness.md").write_text(stamp(to_markdown(table), "robustness.json", data) if stamped else to_markdown(table))
    return out


def test_a_robustness_table_is_printed_without_its_stamp_and_passes_only_when_every_run_does(tmp_path, monkeypatch, capsys):
    """`report` refused a robustness output ("has no report of its own"); it prints its table now."""
    out = tmp_path / "r"
    table = _run(out, monkeypatch, lambda seed: seed == 0)
    raw = (out / "robustness.json").read_bytes()
    assert (out / "robustness.md").read_text() == to_markdown(table) + f"\n<!-- written from robustness.json with sha256 {hashlib.sha256(raw).hexdigest()} -->\n"
    assert json.loads(raw)["budget"] is None and json.loads(raw)["settings"] == ["train.steps=60"]
    assert main(["report", str(out)]) == 1
    assert capsys.readouterr().out == to_markdown(table) + "\n"
    again = _run(out, monkeypatch, lambda seed: True, resume=True)
    assert main(["report", str(out)]) == 0
    assert capsys.readouterr().out == to_markdown(again) + "\n" and "4 of 4 runs pass" in to_markdown(again)


@pytest.mark.parametrize(("verdicts", "code"), [(["pass", "pass"], 0), (["pass", "partial"], 1), (["invalid", "pass"], 1), (["pass", "error"], 1), (["fail"], 1)])
def test_a_robustness_table_exits_0_only_when_every_run_passes(tmp_path, capsys, verdicts, code):
    out = _write(tmp_path / "r", _table(verdicts))
    assert main(["report", str(out)]) == code
    assert capsys.readouterr().out == to_markdown(_table(verdicts)) + "\n"


def test_a_robustness_markdown_not_rewritten_with_its_json_is_refused_and_the_command_named_writes_both(tmp_path, monkeypatch, capsys):
    """Killed between robustness.json and robustness.md, the output held the new table beside the old page."""
    out = tmp_path / "r"
    _run(out, monkeypatch, lambda seed: False)
    write_text = storage.atomic_write_text
    kill_writing(monkeypatch, "robustness.md")
    with pytest.raises(Killed):
        _run(out, monkeypatch, lambda seed: True, resume=True)
    assert json.loads((out / "robustness.json").read_text())["pass_fraction"] == 1.0 and "0 of 4 runs pass" in (out / "robustness.md").read_text()
    before = file_hashes(out)
    assert main(["report", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == (
        f"mechbridge: error: {out / 'robustness.md'} was not written with the robustness.json beside it (its writer was killed between the two, or one was changed since): "
        f"`{_again(out)}` writes both again\n"
    )
    assert file_hashes(out) == before  # refused, nothing changed
    monkeypatch.setattr(storage, "atomic_write_text", write_text)
    again = _run(out, monkeypatch, lambda seed: True, resume=True)
    assert main(["report", str(out)]) == 0 and capsys.readouterr().out == to_markdown(again) + "\n"


def test_an_older_unstamped_robustness_markdown_prints_unless_its_json_comes_from_a_writer_that_stamps(tmp_path, capsys):
    old = _table(["pass", "pass"])
    del old["markdown_stamped"]  # a table written before the markdown was stamped
    out = _write(tmp_path / "r", old, stamped=False)
    assert main(["report", str(out)]) == 0
    assert capsys.readouterr().out == to_markdown(old) + "\n"
    _write(out, _table(["pass", "pass"]), stamped=False)  # a stamping writer's table beside a page without its stamp: cut short, or another page
    assert main(["report", str(out)]) == 2
    assert capsys.readouterr().err.startswith(f"mechbridge: error: {out / 'robustness.md'} was not written with the robustness.json beside it")


def _damage(out, how):
    js, md = out / "robustness.json", out / "robustness.md"
    {"json missing": js.unlink, "md missing": md.unlink, "json cut short": lambda: js.write_bytes(js.read_bytes()[:40]),
     "json not a table": lambda: js.write_text('{"runs": []}'), "json a list": lambda: js.write_text("[1]"),
     "md not text": lambda: md.write_bytes(b"\xff\xfe## Robustness"), "md cut short": lambda: md.write_bytes(md.read_bytes()[:60])}[how]()


@pytest.mark.parametrize(("how", "file", "why"), [
    ("json missing", "robustness.json", "is missing (its writer was killed before it, or it was moved)"),
    ("md missing", "robustness.md", "is missing (its writer was killed before it, or it was moved)"),
    ("json cut short", "robustness.json", "is damaged or not a robustness table (Unterminated string starting at: line 3 column 3 (char 35))"),
    ("json not a table", "robustness.json", "is damaged or not a robustness table (expected an object whose 'runs' list holds a verdict for every run)"),
    ("json a list", "robustness.json", "is damaged or not a robustness table (expected an object whose 'runs' list holds a verdict for every run)"),
    ("md not text", "robustness.md", "is damaged (not UTF-8 text: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte)"),
    ("md cut short", "robustness.md", "was not written with the robustness.json beside it (its writer was killed between the two, or one was changed since)"),
])
def test_a_missing_or_damaged_robustness_file_is_refused_in_one_line_naming_it_and_the_resume(tmp_path, capsys, how, file, why):
    out = _write(tmp_path / "r", _table(["pass", "pass"], seeds=[0, 1], draw_seed=5, settings=["train.steps=60"]))
    _damage(out, how)
    before = file_hashes(out)
    assert main(["report", str(out)]) == 2
    if how.startswith("md"):  # spelled from the table
        again = f"mechbridge robustness deep-linear --preset quick --neighbours 1 --seeds 0,1 --draw-seed 5 --set train.steps=60 --out {out} --resume"
    else:  # no table and no runs to read: what neither tells is left to fill in
        again = f"mechbridge robustness CASE --preset PRESET --neighbours ... --seeds ... --draw-seed ... --out {out} --resume"
    assert capsys.readouterr().err == f"mechbridge: error: {out / file} {why}: `{again}` writes both again\n"
    assert file_hashes(out) == before


def test_the_resume_is_spelled_from_the_table_else_from_the_neighbours_runs(tmp_path, capsys):
    out = tmp_path / "r dir"
    _write(out, _table(["pass"], preset="custom", settings=["model.widths=[64, 64]"], budget=2400))
    assert robustness_again(out) == f"mechbridge robustness deep-linear --preset PRESET --neighbours 1 --seeds 0 --draw-seed 0 --set 'model.widths=[64, 64]' --budget 2400 --out '{out}' --resume"
    older = _table(["pass"])
    older["runs"][0]["extended_to"] = 1200  # trained on by a budget the table did not record
    del older["budget"]
    _write(out, older)
    assert robustness_again(out) == f"mechbridge robustness deep-linear --preset quick --neighbours 1 --seeds 0 --draw-seed 0 --budget ... --out '{out}' --resume"
    (out / "robustness.json").write_text("{")
    for key in ("model.d_hidden=64", "train.lr=0.1,task.depth=5"):
        for seed in (0, 2):
            (out / key / f"seed-{seed}").mkdir(parents=True)
            (out / key / f"seed-{seed}" / "run.json").write_text(json.dumps({"case_study": "deep-linear", "preset": "quick", "settings": [key]}))
    from_runs = f"mechbridge robustness deep-linear --preset quick --neighbours 2 --seeds 0,2 --draw-seed ... --out '{out}' --resume"
    assert robustness_again(out) == from_runs
    (out / "robustness.json").unlink()
    (out / "robustness.md").unlink()  # killed before the table was first written: its runs tell what it is
    assert main(["report", str(out)]) == 2
    assert capsys.readouterr().err == f"mechbridge: error: {out / 'robustness.json'} is missing (its writer was killed before it, or it was moved): `{from_runs}` writes both again\n"


def _widths(out, verdicts, passed=True, value=0.9999812):
    out.mkdir(parents=True, exist_ok=True)
    row = check("every pair of 4 runs (hidden widths 16, 64) learns the same hidden representation (min debiased CKA at step 120)", value, ">= 0.95", passed,
                claim="one representation for every seed and width", source="Saxe 2019", reason="" if passed else "lowest pair: seed 0, width 16 vs seed 1, width 64")
    (out / "universality.json").write_text(json.dumps({"seeds": [0, 1], "widths": verdicts, "universality": _row(row)}, indent=2))
    return out


@pytest.mark.parametrize(("verdicts", "passed", "code"), [({"64": "pass", "16": "pass"}, True, 0), ({"64": "pass", "16": "partial"}, True, 1), ({"64": "pass", "16": "pass"}, False, 1)])
def test_a_run_over_hidden_widths_prints_each_width_s_verdict_and_the_row_and_passes_only_when_all_do(tmp_path, capsys, verdicts, passed, code):
    """`report` refused a run over hidden widths ("has no report of its own"); it summarises universality.json now."""
    out = _widths(tmp_path / "w", verdicts, passed, value=0.9999812 if passed else 0.512341)
    assert main(["report", str(out)]) == code
    passing = sum(v == "pass" for v in verdicts.values())
    assert capsys.readouterr().out == "\n".join([
        "## Universality over hidden widths 16, 64 (seeds 0, 1)", "",
        f"{passing} of 2 widths pass their seed reports; the universality row {'passes' if passed else 'fails'}.", "",
        "| hidden width | seed verdict |", "|---|---|", f"| 16 | {verdicts['16']} |", f"| 64 | {verdicts['64']} |", "",
        f"**{'pass' if passed else 'fail'}**: every pair of 4 runs (hidden widths 16, 64) learns the same hidden representation (min debiased CKA at step 120): "
        f"{'0.99998' if passed else '0.51234'} (target >= 0.95)",
        *([] if passed else ["reason: lowest pair: seed 0, width 16 vs seed 1, width 64"]),
        "claim: one representation for every seed and width", "source: Saxe 2019", "",
        f"A width's seed report: `mechbridge report {out}/width-W`.", "", ""])


def _seed_runs(out):
    for width in (16, 64):
        for seed in (0, 1):
            (out / f"width-{width}" / f"seed-{seed}").mkdir(parents=True)
            (out / f"width-{width}" / f"seed-{seed}" / "run.json").write_text(json.dumps({"case_study": "deep-linear", "preset": "quick", "settings": ["train.steps=120", f"model.d_hidden={width}"]}))


@pytest.mark.parametrize(("record", "why"), [
    (None, "is missing (its writer was killed before it, or it was moved)"),
    ('{"seeds": [0, 1], "wid', "is damaged or not a record of a run over hidden widths (Unterminated string starting at: line 1 column 19 (char 18))"),
    ('{"seeds": [0, 1], "widths": {}, "universality": {}}', "is damaged or not a record of a run over hidden widths (expected an object with 'seeds', each width's seed verdict under 'widths', and the 'universality' row)"),
])
def test_a_missing_or_damaged_universality_record_is_refused_in_one_line_naming_the_call_that_writes_it(tmp_path, capsys, record, why):
    out = tmp_path / "w"
    _seed_runs(out)
    if record is not None:
        (out / "universality.json").write_text(record)
    before = file_hashes(out)
    assert main(["report", str(out)]) == 2
    call = f"from case_studies.generality.universality import run_widths; run_widths({str(out)!r}, seeds=[0, 1], preset='quick', settings=['train.steps=120'], resume=True)"
    assert capsys.readouterr().err == f"mechbridge: error: {out / 'universality.json'} {why}: `{call}` (Python) {'writes it' if record is None else 'writes it again'}\n"
    assert file_hashes(out) == before


def test_rebuild_on_a_robustness_output_or_a_run_over_hidden_widths_names_what_writes_it_again(tmp_path, capsys):
    robust = _write(tmp_path / "r", _table(["pass"], settings=["train.steps=60"]))
    widths = _widths(tmp_path / "w", {"16": "pass", "64": "pass"})
    _seed_runs(widths)
    before = file_hashes(tmp_path)
    assert main(["report", str(robust), "--rebuild"]) == 2
    assert capsys.readouterr().err == (
        f"mechbridge: error: {robust} is a robustness output, whose table --rebuild does not write: "
        f"`mechbridge robustness deep-linear --preset quick --neighbours 1 --seeds 0 --draw-seed 0 --set train.steps=60 --out {robust} --resume` writes it again from its runs, "
        f"and `mechbridge report {robust}/NEIGHBOUR/seed-S --rebuild` rebuilds one run's report\n"
    )
    assert main(["report", str(widths), "--rebuild"]) == 2
    assert capsys.readouterr().err == (
        f"mechbridge: error: {widths} is a run over hidden widths, whose universality.json --rebuild does not write: "
        f"`from case_studies.generality.universality import run_widths; run_widths({str(widths)!r}, seeds=[0, 1], preset='quick', settings=['train.steps=120'], resume=True)` (Python) "
        f"writes it again from its runs, and `mechbridge report {widths}/width-W/seed-S --rebuild` rebuilds one run's report\n"
    )
    assert file_hashes(tmp_path) == before


@pytest.mark.slow
def test_the_resume_a_refusal_names_writes_the_same_robustness_table_again(tmp_path, capsys):
    out = tmp_path / "r"
    code = main(["robustness", "deep-linear", "--neighbours", "1", "--seeds", "0", "--draw-seed", "2", "--set", "train.steps=60", "--set", "train.schedule.n_log=12", "--out", str(out), "--quiet", "--device", "cpu"])
    written = (out / "robustness.json").read_bytes()
    verdict = json.loads(written)["runs"][0]["verdict"]
    assert code == (0 if verdict == "pass" else 1)  # as report exits on the table
    (out / "robustness.md").unlink()
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    again = capsys.readouterr().err.split("`")[1]
    assert again == f"mechbridge robustness deep-linear --preset quick --neighbours 1 --seeds 0 --draw-seed 2 --set train.steps=60 --set train.schedule.n_log=12 --out {out} --resume"
    assert main([*again.split()[1:], "--quiet", "--device", "cpu"]) == code
    assert (out / "robustness.json").read_bytes() == written  # the same neighbour, re-analysed, not a new draw
    assert main(["report", str(out)]) == (0 if verdict == "pass" else 1)


def test_a_neighbour_folder_of_a_robustness_output_names_the_table_not_a_seed_report(tmp_path, capsys):
    """A neighbour's folder holds seed-S runs but no seed report: report and report --rebuild named a
    `mechbridge run --seeds … --resume` that would write one into it."""
    out = _write(tmp_path / "r", _table(["pass"]))
    neighbour = out / "train.lr=0.1"
    (neighbour / "seed-0").mkdir(parents=True)
    (neighbour / "seed-0" / "run.json").write_text(json.dumps({"status": "complete", "case_study": "deep-linear"}))
    before = file_hashes(tmp_path)
    for rebuild in ([], ["--rebuild"]):
        assert main(["report", str(neighbour), *rebuild]) == 2
        assert capsys.readouterr().err == (f"mechbridge: error: {neighbour} is one neighbour of the robustness output {out}: `mechbridge report {out}` prints its table, "
                                           f"and `mechbridge report {neighbour / 'seed-0'}` one run's report\n")
    assert file_hashes(tmp_path) == before
