"""Outputs over many runs read back in Python: a --seeds output's seed report rebuilt from its JSON (its to_dict()
is the JSON written), rows × seeds as a tidy table whose pass fractions are the report's, a robustness table and
a run over hidden widths; each refusing a missing, damaged or half-written file with the message `mechbridge
report` prints for it."""

import json
import math

import pytest

from bridge.cli import main
from bridge.match import Match, check
from bridge.report import BridgeReport, _row
from bridge.runs.checksums import stamp
from bridge.runs.errors import CorruptFileError, RunError
from bridge.runs.storage import json_bytes
from case_studies.generality import load_robustness, load_seed_report, load_universality, run_seeds, seed_runs
from case_studies.generality.robustness import to_markdown
from case_studies.generality.seeds import summarise
from helpers import SMALL_DEEP_LINEAR, file_hashes


def _reports():
    """Three seeds: a match with its steps, a check seed 2 does not report, a text value, a non-finite value."""
    reports = {}
    for s in range(3):
        rows = [check("gap", 0.1 * s, "< 0.15", s < 2), check("label", f"L{s}", "== L0", s == 0, role="info")]
        rows += [check("curvature", [1.5, float("nan"), 2.5][s], "> 1", s != 1, role="precondition")] if s < 2 else []
        m = Match("mode 0", 100.0, "rise", 100.0 + 10 * s, "pathway", 105.0 + s, 0.1 * s, 0.15, 0.1 * s <= 0.15)
        reports[s] = BridgeReport("toy", "quick", s, matches=[m], checks=rows)
    return reports


def _seed_output(out, threshold=0.5):
    across = [check("same circuit in every seed", 1.0, "== 1", True), check("spread", float("inf"), "< 2", False, role="info")]
    report = summarise(_reports(), "toy", "quick", threshold, across)
    report.write(out)
    return report


def test_a_seed_report_read_back_is_the_one_written_and_its_to_dict_is_the_json(tmp_path):
    written = _seed_output(tmp_path)
    read = load_seed_report(tmp_path)
    stored = json.loads((tmp_path / "seed_report.json").read_text())
    assert read.to_dict() == stored == written.to_dict() | {"figures": ["figures/seed_timeline.png"]}
    assert (read.seeds, read.verdicts, read.threshold) == ([0, 1, 2], {0: "pass", 1: "invalid", 2: "fail"}, 0.5)
    assert read.rows["gap"]["values"] == {0: 0.0, 1: 0.1, 2: 0.2} and read.rows["gap"]["passed"] == {0: True, 1: True, 2: False}
    assert read.rows["mode 0"]["steps"][2] == {"predicted": 100.0, "observed": 120.0, "mechanism": 107.0}
    assert [(r.name, r.value, r.passed, r.counted) for r in read.across_seeds] == [("same circuit in every seed", 1.0, True, True), ("spread", None, False, False)]
    assert read.verdict == "fail" and math.isclose(read.pass_fraction, 1 / 3)  # 1 of 3 seeds pass, below the threshold 0.5
    assert read.to_markdown() == written.to_markdown().replace("| inf |", "| — |")  # a non-finite value is written as null


def test_the_seed_table_gives_each_row_s_pass_fraction_and_values_as_the_json_does(tmp_path):
    _seed_output(tmp_path)
    table = load_seed_report(tmp_path).table()
    stored = json.loads((tmp_path / "seed_report.json").read_text())
    assert len(table) == len(stored["rows"]) * 3 and list(table.columns[:4]) == ["row", "seed", "value", "passed"]
    fractions = table.groupby("row", sort=False).passed.mean()
    assert fractions.to_dict() == pytest.approx({name: row["pass_fraction"] for name, row in stored["rows"].items()}, abs=1e-12)
    assert fractions["curvature"] == pytest.approx(1 / 3)  # seed 2 does not report it: it counts as failing it
    for name, row in stored["rows"].items():
        numbers = table[(table.row == name) & table.reported].value.map(lambda v: v if isinstance(v, float) and math.isfinite(v) else None).dropna()
        assert (numbers.mean() if len(numbers) else None) == pytest.approx(row["mean"], abs=1e-12), name
    gap = table[table.row == "gap"].set_index("seed")
    assert gap.value.to_dict() == {0: 0.0, 1: 0.1, 2: 0.2} and gap.passed.to_dict() == {0: True, 1: True, 2: False}
    assert table[table.row == "curvature"].reported.tolist() == [True, True, False]
    assert table[table.row == "label"].value.tolist() == ["L0", "L1", "L2"] and not table[table.row == "label"].counted.any()
    mode = table[table.row == "mode 0"].set_index("seed")
    assert mode.observed_step.to_dict() == {0: 100.0, 1: 110.0, 2: 120.0} and mode.mechanism_step.to_dict() == {0: 105.0, 1: 106.0, 2: 107.0}
    assert table[table.row == "gap"].predicted_step.isna().all()  # a check has no steps


def _refusal(out, capsys):
    """What the reader raises and what `mechbridge report` prints for ``out``: the same line."""
    with pytest.raises((CorruptFileError, RunError)) as refused:
        load_seed_report(out)
    assert main(["report", str(out)]) == 2
    assert capsys.readouterr().err == f"mechbridge: error: {refused.value}\n"
    return str(refused.value)


@pytest.mark.parametrize(("damage", "file", "why"), [
    ("md cut short", "seed_report.md", "was not written with the seed_report.json beside it (its writer was killed between the two, or one was changed since)"),
    ("json cut short", "seed_report.json", "is not a valid report (Unterminated string"),
    ("json without a verdict", "seed_report.json", "is not a valid report ('verdict')"),
])
def test_a_damaged_or_half_written_seed_report_is_refused_by_the_reader_as_by_report(tmp_path, capsys, damage, file, why):
    _seed_output(tmp_path)
    js, md = tmp_path / "seed_report.json", tmp_path / "seed_report.md"
    {"md cut short": lambda: md.write_bytes(md.read_bytes()[:80]), "json cut short": lambda: js.write_bytes(js.read_bytes()[:200]),
     "json without a verdict": lambda: js.write_text("{}")}[damage]()
    before = file_hashes(tmp_path)
    message = _refusal(tmp_path, capsys)
    assert message.startswith(f"{tmp_path / file} {why}") and message.endswith(f"--out {tmp_path} --resume` writes both again")
    assert file_hashes(tmp_path) == before


def test_a_seed_report_json_that_is_not_whole_or_disagrees_with_its_verdict_is_refused_naming_it(tmp_path):
    report = _seed_output(tmp_path)
    js = tmp_path / "seed_report.json"
    for change, why in [({"rows": None}, "('rows' is a NoneType, expected a dict)"), ({"verdicts": {"0": "pass"}}, "('seeds' [0, 1, 2] must be integers, each with its verdict"),
                        ({"verdict": "pass"}, "records the verdict 'pass' but its rows give 'fail'")]:
        data = json_bytes(report.to_dict() | {"figures": []} | change)
        js.write_bytes(data)
        (tmp_path / "seed_report.md").write_text(stamp("# report\n", "seed_report.json", data))  # the pair agrees: the JSON itself is wrong
        with pytest.raises(CorruptFileError) as refused:
            load_seed_report(tmp_path)
        assert str(refused.value).startswith(f"{js} ") and why in str(refused.value), str(refused.value)


def test_a_folder_that_is_not_a_seeds_output_is_refused_naming_what_it_lacks_or_what_reads_it(tmp_path):
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "notes.tex").write_text("data")
    with pytest.raises(RunError, match=r"thesis/seed_report\.json does not exist: .*thesis is not a --seeds output"):
        load_seed_report(tmp_path / "thesis")
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "run.json").write_text("{}")
    with pytest.raises(RunError, match=r"one is one case study's output, not a --seeds output: bridge\.load_run\("):
        load_seed_report(tmp_path / "one")
    _robustness(tmp_path / "robust", _table())
    with pytest.raises(RunError, match=r"robust is a robustness output, not a --seeds output: case_studies\.generality\.load_robustness\("):
        load_seed_report(tmp_path / "robust")
    seeds = tmp_path / "seeds"
    _seed_output(seeds)
    (seeds / "seed-0").mkdir()
    (seeds / "seed-0" / "run.json").write_text(json.dumps({"case_study": "toy", "preset": "quick"}))
    (seeds / "seed_report.json").unlink()  # its writer killed before it: the runs tell what writes it
    with pytest.raises(CorruptFileError) as refused:
        load_seed_report(seeds)
    assert str(refused.value) == f"{seeds / 'seed_report.json'} is missing (its writer was killed before it, or it was moved): `mechbridge run toy --preset quick --seeds 0 --out {seeds} --resume` writes both again"


def test_a_seeds_output_of_the_deep_linear_study_reads_back_without_re_analysing_and_opens_each_seed_s_run(tmp_path, monkeypatch):
    out = tmp_path / "dl"
    written = run_seeds("deep-linear", "quick", out, [0, 1], device="cpu", progress=False, settings=SMALL_DEEP_LINEAR)
    import case_studies.base.runner as runner

    monkeypatch.setattr(runner, "rebuild_report", lambda *a, **k: pytest.fail("a seed was re-analysed"))
    read = load_seed_report(out)
    assert read.to_dict() == written.to_dict() == json.loads((out / "seed_report.json").read_text())
    runs = seed_runs(out)
    assert sorted(runs) == [0, 1] and {s: r.path for s, r in runs.items()} == {0: out / "seed-0", 1: out / "seed-1"}
    assert {s: r.report["verdict"] for s, r in runs.items()} == read.verdicts
    table = read.table()
    first = table[(table.row == "mode 0 half-rise") & (table.seed == 1)].iloc[0]
    assert first.value == pytest.approx(next(m["relative_error"] for m in runs[1].report["matches"] if m["key"] == "mode 0 half-rise"), rel=1e-12)


def _table(**fields):
    runs = [
        {"neighbour": "train.lr=0.1", "seed": 0, "verdict": "pass", "failed_claims": [], "failed_preconditions": [], "not_reached": False, "extended_to": None, "error": None},
        {"neighbour": "train.lr=0.1", "seed": 1, "verdict": "invalid", "failed_claims": [], "failed_preconditions": ["settled"], "not_reached": True, "extended_to": 2400, "error": None},
        {"neighbour": "task.depth=5", "seed": 0, "verdict": "fail", "failed_claims": ["a", "b"], "failed_preconditions": [], "not_reached": False, "extended_to": None, "error": None},
        {"neighbour": "task.depth=5", "seed": 1, "verdict": "error", "failed_claims": [], "failed_preconditions": [], "not_reached": False, "extended_to": None, "error": "RuntimeError: broke"},
    ]
    table = {"case_study": "deep-linear", "preset": "quick", "runs": runs, "rows": {"a": {"pass_fraction": 0.5, "runs": 2}, "b": {"pass_fraction": 2 / 3, "runs": 3}},
             "neighbours": {"train.lr=0.1": 0.5, "task.depth=5": 0.0}, "pass_fraction": 0.25, "seeds": [0, 1], "draw_seed": 0, "settings": [], "budget": 2400, "markdown_stamped": True}
    return table | fields


def _robustness(out, table):
    out.mkdir(parents=True)
    data = json_bytes(table)
    (out / "robustness.json").write_bytes(data)
    (out / "robustness.md").write_text(stamp(to_markdown(table), "robustness.json", data))
    return out


def test_a_robustness_table_reads_back_as_written_with_a_tidy_table_of_its_runs(tmp_path):
    out = _robustness(tmp_path / "r", _table())
    robust = load_robustness(out)
    assert robust.data == json.loads((out / "robustness.json").read_text()) and robust.markdown == to_markdown(_table())
    assert robust.passed is False and load_robustness(_robustness(tmp_path / "ok", _table(runs=_table()["runs"][:1]))).passed is True
    runs = robust.table()
    assert (runs.verdict == "pass").mean() == robust.data["pass_fraction"]
    assert runs.groupby("neighbour", sort=False).verdict.apply(lambda v: (v == "pass").mean()).to_dict() == robust.data["neighbours"]
    assert runs.failed_claims.tolist() == [(), (), ("a", "b"), ()] and runs.not_reached.tolist() == [False, True, False, False]
    assert runs.extended_to.tolist()[1] == 2400 and runs.extended_to.isna().tolist() == [True, False, True, True] and str(runs.extended_to.dtype) == "Int64"
    assert runs.error.tolist()[3] == "RuntimeError: broke"
    assert robust.rows().set_index("row").pass_fraction.to_dict() == {"a": 0.5, "b": pytest.approx(2 / 3)}


@pytest.mark.parametrize("damage", ["md cut short", "json missing", "json not a table"])
def test_a_damaged_robustness_table_is_refused_by_the_reader_as_by_report(tmp_path, capsys, damage):
    out = _robustness(tmp_path / "r", _table())
    js, md = out / "robustness.json", out / "robustness.md"
    {"md cut short": lambda: md.write_bytes(md.read_bytes()[:60]), "json missing": js.unlink, "json not a table": lambda: js.write_text('{"runs": []}')}[damage]()
    with pytest.raises(CorruptFileError) as refused:
        load_robustness(out)
    assert str(refused.value).startswith(str(md if damage.startswith("md") else js)) and str(refused.value).endswith(f"--out {out} --resume` writes both again")
    assert main(["report", str(out)]) == 2
    assert capsys.readouterr().err == f"mechbridge: error: {refused.value}\n"


def test_a_run_over_hidden_widths_reads_back_with_its_row_and_each_width_s_seed_report(tmp_path, capsys):
    out = tmp_path / "w"
    _seed_output(out / "width-64", threshold=0.3)
    row = check("every pair of 6 runs learns the same hidden representation", 0.99998, ">= 0.95", True, claim="one representation", source="Saxe 2019")
    (out / "universality.json").write_text(json.dumps({"seeds": [0, 1, 2], "widths": {"128": "pass", "64": "pass"}, "universality": _row(row)}))
    record = load_universality(out)
    assert record.widths == {64: "pass", 128: "pass"} and list(record.widths) == [64, 128]  # by width, not as text and record.seeds == [0, 1, 2]
    assert record.row == row and record.passed is True
    assert record.table().values.tolist() == [[64, "pass"], [128, "pass"]]
    assert record.seed_report(64).to_dict() == json.loads((out / "width-64" / "seed_report.json").read_text())
    assert load_universality(_widths_record(tmp_path / "x", {"64": "pass", "16": "partial"})).passed is False
    (out / "universality.json").write_text('{"seeds": [0, 1, 2], "wid')
    with pytest.raises(CorruptFileError) as refused:
        load_universality(out)
    assert str(refused.value).startswith(f"{out / 'universality.json'} is damaged or not a record of a run over hidden widths (Unterminated string")
    assert main(["report", str(out)]) == 2 and capsys.readouterr().err == f"mechbridge: error: {refused.value}\n"


def _widths_record(out, widths):
    out.mkdir()
    (out / "universality.json").write_text(json.dumps({"seeds": [0], "widths": widths, "universality": _row(check("same", 0.99, ">= 0.95", True))}))
    return out


def test_a_table_reader_given_another_output_names_the_reader_of_that_output_not_a_resume_that_would_write_into_it(tmp_path):
    _seed_output(tmp_path / "seeds")
    _robustness(tmp_path / "robust", _table())
    _widths_record(tmp_path / "widths", {"64": "pass"})
    for reader, folder, kind, other, its_reader in [
        (load_robustness, "seeds", "a robustness output", "a --seeds output", "load_seed_report"),
        (load_robustness, "widths", "a robustness output", "a run over hidden widths", "load_universality"),
        (load_universality, "seeds", "a run over hidden widths", "a --seeds output", "load_seed_report"),
        (load_universality, "robust", "a run over hidden widths", "a robustness output", "load_robustness"),
    ]:
        with pytest.raises(RunError) as refused:
            reader(tmp_path / folder)
        assert str(refused.value) == f"{tmp_path / folder} is {other}, not {kind}: case_studies.generality.{its_reader}({str(tmp_path / folder)!r}) reads it"
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "notes.tex").write_text("data")
    with pytest.raises(RunError, match=r"thesis/robustness\.json does not exist: .*thesis is not a robustness output \(`mechbridge robustness CASE --out DIR` writes one\)"):
        load_robustness(tmp_path / "thesis")
    with pytest.raises(RunError, match=r"thesis/universality\.json does not exist: .*thesis is not a run over hidden widths"):
        load_universality(tmp_path / "thesis")
    killed = tmp_path / "killed"  # its runs are there, its table is not: the resume that writes it is named
    (killed / "train.lr=0.1" / "seed-0").mkdir(parents=True)
    (killed / "train.lr=0.1" / "seed-0" / "run.json").write_text(json.dumps({"case_study": "toy", "preset": "quick"}))
    with pytest.raises(CorruptFileError, match=r"robustness\.json is missing .*`mechbridge robustness toy --preset quick --neighbours 1 --seeds 0 .*--resume` writes both again"):
        load_robustness(killed)
