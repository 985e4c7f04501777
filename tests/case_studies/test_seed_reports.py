"""A case study over seeds: seed lists, the seed report's statistics and verdict, the CLI end to end."""

import json
import math
import subprocess
import sys

import pytest

import bridge
from bridge.config import ConfigError
from bridge.match import check, match
from bridge.report import BridgeReport
from bridge.stages import Event
from case_studies.generality.seeds import in_every_seed, parse_seeds, run_seeds, summarise
from tests.helpers import timeout


@pytest.mark.parametrize(("text", "seeds"), [("0-9", list(range(10))), ("0,2,5", [0, 2, 5]), ("4-5,0,5", [0, 4, 5]), (" 3 ", [3])])
def test_parse_seeds(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(("text", "message"), [("a-3", "expected a list"), ("5-2", "runs backwards"), ("-1", "expected a list"), ("0-20000", "more than 10000"), ("5-2", "--seeds range"), ("", "expected a list")])
def test_parse_seeds_refuses_bad_lists(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_seeds(text)


def _seed_report(seed, gap, order_ok, converged=True):
    return BridgeReport(
        "toy",
        "quick",
        seed,
        matches=[match("mode 0", 100.0, Event("rise", 100 + 10 * seed, 90, 110), Event("diff", 105, 95, 115), 0.25)],
        checks=[check("gap", gap, "< 0.5", gap < 0.5), check("order", float(order_ok), "== 1", order_ok), check("converged", float(converged), "== 1", converged, role="precondition")],
    )


def test_the_seed_report_gathers_every_row_with_its_spread_and_pass_fraction():
    reports = {0: _seed_report(0, 0.1, True), 1: _seed_report(1, 0.3, True), 2: _seed_report(2, 0.8, False), 3: _seed_report(3, 0.2, True, converged=False)}
    sr = summarise(reports, "toy", "quick", threshold=0.5)
    assert sr.verdicts == {0: "pass", 1: "pass", 2: "partial", 3: "invalid"}
    assert sr.pass_fraction == 0.5 and sr.verdict == "pass"
    gap = sr.rows["gap"]
    assert gap["mean"] == pytest.approx(0.35) and gap["min"] == 0.1 and gap["max"] == 0.8
    assert gap["std"] == pytest.approx(0.3109126, rel=1e-6)
    assert gap["pass_fraction"] == 0.75 and gap["counted"]
    assert sr.rows["converged"]["role"] == "precondition" and sr.rows["converged"]["pass_fraction"] == 0.75
    assert [sr.rows["mode 0"]["steps"][s]["observed"] for s in range(4)] == [100.0, 110.0, 120.0, 130.0]
    assert summarise(reports, "toy", "quick", threshold=0.75).verdict == "fail"


def test_an_across_seed_claim_that_fails_fails_the_seed_verdict():
    reports = {s: _seed_report(s, 0.1, True) for s in range(3)}
    same = check("same circuit in every seed", 2 / 3, "== 1", False, claim="universality")
    assert summarise(reports, "toy", "quick", 0.8).verdict == "pass"
    assert summarise(reports, "toy", "quick", 0.8, [same]).verdict == "fail"
    shown = check("key-frequency overlap", 0.2, "—", True, role="info")
    assert summarise(reports, "toy", "quick", 0.8, [shown]).verdict == "pass"


def test_the_seed_report_is_written_with_its_figure(tmp_path):
    import matplotlib.image

    sr = summarise({s: _seed_report(s, 0.1 * s, True) for s in range(3)}, "toy", "quick", 0.8)
    data = json.loads(sr.write(tmp_path).read_text())
    assert data["verdict"] == "pass" and data["pass_fraction"] == 1.0 and data["seeds"] == [0, 1, 2]
    assert data["rows"]["gap"]["values"] == {"0": 0.0, "1": 0.1, "2": 0.2}
    assert data["figures"] == ["figures/seed_timeline.png"]
    image = matplotlib.image.imread(tmp_path / "figures" / "seed_timeline.png")
    assert image.shape[0] > 100 and image.std() > 0.01  # something was drawn
    md = (tmp_path / "seed_report.md").read_text()
    assert "| gap | claim |" in md and "over seeds of a match's relative error" in md  # what the numbers in the table are


def test_a_bar_in_a_row_name_is_escaped_in_the_seed_report_table_not_turned_into_a_slash():
    reports = {s: BridgeReport("toy", "quick", s, checks=[check("max |u − s|", 0.1, "< 0.5", True)]) for s in range(2)}
    across = check("worst |a − b|", 0.2, "|x| < 1", True)
    md = summarise(reports, "toy", "quick", 0.8, [across]).to_markdown()
    assert "| max \\|u − s\\| | claim |" in md and "| worst \\|a − b\\| | 0.2 | \\|x\\| < 1 | ✔ |" in md


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "bridge.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout(300))


def test_seed_and_seeds_together_are_refused_in_one_line(tmp_path):
    result = _cli("run", "deep-linear", "--seed", "1", "--seeds", "0-2", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode != 0 and result.stderr.strip().count("\n") == 0
    assert "either --seed or --seeds" in result.stderr
    assert not (tmp_path / "out").exists()


def test_seeds_resume_refuses_a_folder_that_is_not_a_seeds_output_and_touches_nothing(tmp_path, capsys):
    from bridge.cli import main

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("data")
    single = tmp_path / "single"
    single.mkdir()
    (single / "run.json").write_text("{}")  # a single run's folder
    for folder, named in [(foreign, "thesis.tex"), (single, "run.json")]:
        assert main(["run", "deep-linear", "--steps", "5", "--seeds", "0-1", "--resume", "--out", str(folder), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "not part of a seeds output" in err and named in err
    assert sorted(p.name for p in foreign.iterdir()) == ["thesis.tex"] and sorted(p.name for p in single.iterdir()) == ["run.json"]


@pytest.mark.slow
def test_deep_linear_over_three_seeds_end_to_end(tmp_path):
    result = _cli("run", "deep-linear", "--seeds", "0-2", "--out", str(tmp_path / "out"), "--quiet", cwd=tmp_path)
    data = json.loads((tmp_path / "out" / "seed_report.json").read_text())
    assert sorted(data["verdicts"]) == ["0", "1", "2"]
    for seed in range(3):
        own = json.loads((tmp_path / "out" / f"seed-{seed}" / "report.json").read_text())
        assert own["seed"] == seed and own["verdict"] == data["verdicts"][str(seed)]
    assert result.returncode == (0 if data["verdict"] == "pass" else 1)
    assert data["pass_fraction"] == sum(v == "pass" for v in data["verdicts"].values()) / 3
    again = _cli("run", "deep-linear", "--seeds", "0-2", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert again.returncode != 0 and "already exists" in again.stderr


@pytest.mark.slow
def test_deep_linear_seeds_share_their_final_representation_and_not_their_random_start(tmp_path):
    from case_studies import run_case_study
    from case_studies.deep_linear import seed_similarity

    outs = {s: tmp_path / f"seed-{s}" for s in range(2)}
    for s, out in outs.items():
        run_case_study("deep-linear", "quick", out, seed=s, progress=False)
    end = seed_similarity(outs)
    start = seed_similarity(outs, step=0)
    assert end.passed and end.value > 0.99
    assert not start.passed and abs(start.value) < 0.5  # independent random starts: debiased CKA near 0


@pytest.mark.slow
def test_seeds_train_stacked_and_report_as_seeds_trained_one_by_one(tmp_path):
    """Full-batch gradient descent on the deep linear network: stacked seeds are bit-identical to lone ones."""
    from case_studies.generality.seeds import run_seeds, seed_dir

    settings = ["train.steps=120"]
    stacked = run_seeds("deep-linear", "quick", tmp_path / "stacked", [0, 1], device="cpu", progress=False, settings=settings)
    alone = run_seeds("deep-linear", "quick", tmp_path / "alone", [0, 1], device="cpu", progress=False, settings=settings, stack=False)
    assert stacked.verdicts == alone.verdicts
    for seed in (0, 1):
        a, b = (json.loads((seed_dir(tmp_path / out, seed) / "report.json").read_text()) for out in ("stacked", "alone"))
        assert a == b
        run = bridge.load_run(seed_dir(tmp_path / "stacked", seed))
        assert run.info["sweep"] == {"seeds": [0, 1]} and "sweep" not in bridge.load_run(seed_dir(tmp_path / "alone", seed)).info
        assert run.info["case_seed"] == seed and run.info["offline_done"]
    assert json.loads((tmp_path / "stacked" / "seed_report.json").read_text())["verdicts"] == json.loads((tmp_path / "alone" / "seed_report.json").read_text())["verdicts"]


def test_a_row_named_after_a_seed_specific_head_is_one_row_across_seeds_by_its_key():
    from case_studies.generality.robustness import summarise as robustness_table

    def report(seed, head, score):
        row = check(f"L1H{head} final induction score (test)", score, "> 0.7", score > 0.7, key="induction head: final induction score (test)")
        return BridgeReport("toy", "quick", seed, checks=[row, check("loss drop", 1.0, "> 0.5", True)])

    reports = {0: report(0, 3, 0.9), 1: report(1, 0, 0.8), 2: report(2, 1, 0.6)}
    sr = summarise(reports, "toy", "quick", threshold=0.5)
    row = sr.rows["induction head: final induction score (test)"]
    assert sorted(sr.rows) == ["induction head: final induction score (test)", "loss drop"]
    assert row["passed"] == {0: True, 1: True, 2: False} and row["mean"] == pytest.approx(0.7667, abs=1e-4)
    table = robustness_table({"lr=1": reports}, "toy", "quick")
    assert table["rows"]["induction head: final induction score (test)"] == {"pass_fraction": pytest.approx(2 / 3), "runs": 3}
    assert check("loss drop", 1.0, "> 0.5", True).row_key == "loss drop"  # no key: the name


def test_a_seed_without_a_row_counts_as_failing_it_and_non_finite_values_stay_out_of_the_statistics():
    reports = {s: _seed_report(s, gap, True) for s, gap in ((0, 0.1), (1, float("nan")), (2, 0.3))}
    extra = check("late mode", 1.0, "== 1", True)
    reports[0] = BridgeReport("toy", "quick", 0, matches=reports[0].matches, checks=[*reports[0].checks, extra])
    sr = summarise(reports, "toy", "quick", threshold=0.5)
    assert sr.rows["late mode"]["pass_fraction"] == pytest.approx(1 / 3)  # reported by seed 0 only
    gap = sr.rows["gap"]
    assert gap["mean"] == pytest.approx(0.2) and gap["std"] == pytest.approx(0.1414213562, rel=1e-9)
    assert (gap["min"], gap["max"]) == (0.1, 0.3)


@pytest.mark.parametrize(("seeds", "named"), [([], "no seed"), ("0-2", "'0-2'"), ([0, -1], "-1"), ([0, 1.5], "1.5"), ([0, True], "True"), ([1, 1], "seed 1 twice")])
def test_run_seeds_refuses_bad_seeds_before_any_work(tmp_path, seeds, named):
    with pytest.raises(ConfigError, match="seeds") as refused:
        run_seeds("deep-linear", "quick", tmp_path / "out", seeds, device="cpu", progress=False)
    assert named in str(refused.value)
    assert not (tmp_path / "out").exists()


def _report(seed, gap, passed=True, extra=()):
    """Seed ``seed``'s report: the claim "gap" at ``gap``, and the ``extra`` rows."""
    return BridgeReport("toy", "quick", seed, checks=[check("gap", gap, "< 0.5", passed), *extra])


def test_a_seed_report_of_one_seed_names_it_and_has_no_spread():
    sr = summarise({3: _report(3, 0.25)}, "toy", "quick", threshold=0.8)
    gap = sr.rows["gap"]
    assert sr.seeds == [3] and (gap["mean"], gap["std"], gap["min"], gap["max"]) == (0.25, None, 0.25, 0.25)
    md = sr.to_markdown().splitlines()
    assert md[0] == "# toy — preset quick, seeds 3: **PASS**"
    assert md[2] == "1 of 1 seeds pass (fraction 1.00, threshold 0.80)."
    assert "| gap | claim | 0.25 | — | 0.25 | 0.25 | 1.00 |" in md
    assert json.loads(json.dumps(sr.to_dict()))["rows"]["gap"]["std"] is None


@pytest.mark.parametrize(("seeds", "shown"), [([0, 1, 2], "seeds 0–2"), ([4, 5], "seeds 4–5"), ([0, 2, 5], "seeds 0, 2, 5"), ([1, 2, 4], "seeds 1, 2, 4")])
def test_the_heading_gives_a_range_only_for_consecutive_seeds(seeds, shown):
    sr = summarise({s: _report(s, 0.1) for s in seeds}, "toy", "quick", threshold=0.8)
    assert sr.to_markdown().splitlines()[0] == f"# toy — preset quick, {shown}: **PASS**"


def test_the_markdown_row_gives_mean_std_min_max_and_pass_fraction_in_its_columns():
    reports = {s: _report(s, gap, gap < 0.5) for s, gap in enumerate((0.1, 0.3, 0.8, 0.2))}
    md = summarise(reports, "toy", "quick", threshold=0.5).to_markdown()
    assert "| gap | claim | 0.35 | 0.3109 | 0.1 | 0.8 | 0.75 |" in md  # sample std of 0.1, 0.3, 0.8, 0.2
    assert "| 2 | fail |" in md and "3 of 4 seeds pass (fraction 0.75, threshold 0.50)." in md


def test_a_match_row_gathers_each_seed_s_relative_error_not_its_steps():
    reports = {
        s: BridgeReport("toy", "quick", s, matches=[match("mode 0", 100.0, Event("rise", observed, observed - 5, observed + 5), None, 0.25, require_mechanism=False)])
        for s, observed in ((0, 110.0), (1, 80.0))
    }
    row = summarise(reports, "toy", "quick", threshold=0.5).rows["mode 0"]
    assert row["values"] == {0: pytest.approx(0.1), 1: pytest.approx(0.2)}
    assert row["mean"] == pytest.approx(0.15) and row["steps"][1] == {"predicted": 100.0, "observed": 80.0, "mechanism": None}


def test_a_seed_report_needs_a_seed_and_lists_seeds_in_order():
    with pytest.raises(ValueError, match="at least one seed"):
        summarise({}, "toy", "quick", threshold=0.5)
    sr = summarise({5: _report(5, 0.1), 1: _report(1, 0.9, False)}, "toy", "quick", threshold=0.5)
    assert sr.seeds == [1, 5] and list(sr.verdicts) == [1, 5] and list(sr.rows["gap"]["values"]) == [1, 5]


def test_only_claims_are_counted_rows_of_the_seed_report():
    extra = [check("converged", 1.0, "== 1", True, role="precondition"), check("loss at the end", 0.01, "—", True, role="info")]
    rows = summarise({0: _report(0, 0.1, extra=extra)}, "toy", "quick", threshold=0.5).rows
    assert {name: (row["role"], row["counted"]) for name, row in rows.items()} == {
        "gap": ("claim", True), "converged": ("precondition", False), "loss at the end": ("info", False)}


def test_text_and_boolean_values_are_gathered_but_not_averaged():
    extra = [check("phenomenon", "absent", "present", False, role="precondition"), check("in order", True, "== true", True)]
    sr = summarise({s: _report(s, 0.1, extra=extra) for s in range(2)}, "toy", "quick", threshold=0.5)
    for name, value in (("phenomenon", "absent"), ("in order", True)):
        row = sr.rows[name]
        assert row["values"] == {0: value, 1: value}
        assert (row["mean"], row["std"], row["min"], row["max"]) == (None, None, None, None)
    assert "| phenomenon | precondition | — | — | — | — | 0.00 |" in sr.to_markdown()


def test_a_seed_whose_value_is_not_a_number_is_written_as_null_and_left_out_of_the_statistics(tmp_path):
    reports = {0: _report(0, 0.1), 1: _report(1, float("nan"), False), 2: _report(2, float("inf"), False)}
    sr = summarise(reports, "toy", "quick", threshold=0.5)
    data = json.loads(sr.write(tmp_path).read_text(), parse_constant=lambda c: pytest.fail(f"{c} in the seed report"))
    assert data["rows"]["gap"]["values"] == {"0": 0.1, "1": None, "2": None}
    assert (data["rows"]["gap"]["mean"], data["rows"]["gap"]["std"]) == (0.1, None)
    assert data["verdicts"] == {"0": "pass", "1": "fail", "2": "fail"} and data["pass_fraction"] == pytest.approx(1 / 3)


def test_an_across_seed_row_that_is_not_counted_does_not_decide_the_seed_verdict():
    reports = {s: _report(s, 0.1) for s in range(2)}
    shown = check("overlap of the key frequencies", math.nan, "—", False, role="info")
    needed = check("every seed converged", 0.5, "== 1", False, role="precondition")
    assert summarise(reports, "toy", "quick", 0.8, [shown, needed]).verdict == "pass"
    md = summarise(reports, "toy", "quick", 0.8, [shown]).to_markdown()
    assert "| overlap of the key frequencies | nan | — | ✘ |" in md


def test_a_universal_row_that_no_seed_reports_fails_and_says_so():
    sr = summarise({s: _report(s, 0.1) for s in range(2)}, "toy", "quick", threshold=0.5)
    [missing] = in_every_seed(sr, ["plateau"])
    assert (missing.name, missing.value, missing.passed, missing.counted) == ("plateau: in every seed", None, False, True)
    assert missing.reason == "no seed reports this row"
    sr.across_seeds += [missing]
    assert sr.verdict == "fail"


def test_a_seed_report_without_matches_writes_no_figure_and_links_none(tmp_path):
    sr = summarise({s: _report(s, 0.1) for s in range(2)}, "toy", "quick", threshold=0.5)
    data = json.loads(sr.write(tmp_path).read_text())
    assert data["figures"] == [] and not (tmp_path / "figures").exists()
    assert "![" not in (tmp_path / "seed_report.md").read_text()


def test_run_seeds_judges_the_study_s_universal_rows_at_its_threshold_and_resumes_over_its_figure(tmp_path, monkeypatch):
    import case_studies.base.runner as runner
    from case_studies import get_case_study

    study_class = type(get_case_study("deep-linear"))
    monkeypatch.setattr(study_class, "universal", ("mode 0",))
    monkeypatch.setattr(study_class, "seed_pass_fraction", 0.7)
    monkeypatch.setattr(study_class, "across_seeds", lambda self, outs, preset: [check("seeds compared", float(len(outs)), "—", True, role="info")])
    calls = []

    def study_run(name, preset, out, *, seed, resume, **options):
        calls.append((seed, resume))
        observed = {0: 100.0, 1: 105.0, 2: 120.0}[seed]  # relative errors 0, 0.05 and 0.2 against a tolerance of 0.1
        return BridgeReport(name, preset, seed, matches=[match("mode 0", 100.0, Event("rise", observed, observed - 5, observed + 5), None, 0.1, require_mechanism=False)])

    monkeypatch.setattr(runner, "run_case_study", study_run)
    sr = run_seeds("deep-linear", "quick", tmp_path / "s", [0, 1, 2], device="cpu", progress=False, stack=False)
    assert sr.threshold == 0.7 and sr.pass_fraction == pytest.approx(2 / 3) and sr.verdict == "fail"
    assert [(r.name, r.value, r.passed) for r in sr.across_seeds] == [("seeds compared", 3.0, True), ("mode 0: in every seed", pytest.approx(2 / 3), False)]
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["figures", "seed_report.json", "seed_report.md"]
    again = run_seeds("deep-linear", "quick", tmp_path / "s", [0, 1, 2], device="cpu", progress=False, stack=False, resume=True)
    assert [seed for seed, _ in calls] == [0, 1, 2, 0, 1, 2] and again.verdicts == sr.verdicts  # no report.json here: each seed is asked again


def test_seeds_that_diverge_when_trained_together_are_each_reported_invalid_with_where_they_diverged(tmp_path):
    sr = run_seeds("deep-linear", "quick", tmp_path / "s", [0, 1], device="cpu", progress=False, settings=["train.lr=3", "train.steps=60"])
    assert sr.verdicts == {0: "invalid", 1: "invalid"} and sr.pass_fraction == 0.0 and sr.verdict == "fail"
    for seed in (0, 1):
        report = json.loads((tmp_path / "s" / f"seed-{seed}" / "report.json").read_text())
        assert report["verdict"] == "invalid" and report["diverged"]["run"] == "main"
    md = (tmp_path / "s" / "seed_report.md").read_text()
    assert "| 0 | invalid |" in md and "| 1 | invalid |" in md and "0 of 2 seeds pass" in md
    data = json.loads((tmp_path / "s" / "seed_report.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in the seed report"))
    assert data["verdicts"] == {"0": "invalid", "1": "invalid"}
