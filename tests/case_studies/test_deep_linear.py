"""The deep-linear report: every counted row fails when its claim is false (synthetic observables, no training)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bridge.models import build_model
from bridge.tasks import make_task
from bridge.theory import saxe
from case_studies.deep_linear import PRESETS, analyse_run, predictions, run_config

STEPS = np.arange(0.0, 601.0, 5.0)
RATIO_SD = 0.1


class SyntheticRun:
    """What ``analyse_run`` reads from a run: the quick preset's config, task, initial weights and curves.

    The mode strengths follow the Saxe closed form from the initial weights; level k's
    between-category variance rises as a logistic centred on its modes' half-rise.
    ``curves`` can be replaced entry by entry to make one claim false.
    """

    def __init__(self, seed: int = 0) -> None:
        self.config = run_config(PRESETS["quick"], seed)
        self._data = make_task(self.config.task, seed)
        self._net = build_model(self.config.model, seed)
        self.curves: dict[tuple, np.ndarray] = {}
        self.preds = predictions(self)
        for p in self.preds:
            self.curves[("mode/strength", p.extra["mode"])] = saxe.mode_trajectory(STEPS, p.extra["s"], p.extra["u0"], p.extra["lr"])
        levels = self._data.info["mode_level"]
        for k in range(1, max(levels) + 1):
            t_half = np.mean([p.step for m, p in enumerate(self.preds) if levels[m] == k])
            self.set_level(k, t_half)

    def set_level(self, k: int, t_half: float, rise: float = 1.0) -> None:
        width = t_half / 12
        self.curves[("differentiation/between", k)] = 0.01 + rise / (1 + np.exp(-(STEPS - t_half) / width))
        self.curves[("differentiation/ratio", k)] = 1.0 + rise / (1 + np.exp(-(STEPS - t_half) / width))
        self.curves[("differentiation/ratio_sd", k)] = np.full(len(STEPS), RATIO_SD)

    def task_data(self):
        return self._data

    def model_at(self, step: int):
        assert step == 0
        return self._net

    def curve(self, name: str, **index):
        (value,) = index.values()
        return STEPS.copy(), self.curves[(name, value)].copy()


@pytest.fixture(scope="module")
def base():
    return SyntheticRun()


def fresh(base: SyntheticRun) -> SyntheticRun:
    run = object.__new__(SyntheticRun)
    run.__dict__.update(base.__dict__, curves=dict(base.curves))
    return run


def rows(report) -> dict[str, object]:
    return {m.prediction: m for m in report.matches} | {c.name: c for c in report.checks}


def row(report, start: str):
    (found,) = [r for name, r in rows(report).items() if name.startswith(start)]
    return found


def test_on_the_theory_every_row_passes_with_its_role(base):
    report = analyse_run(base)
    assert report.verdict == "pass"
    assert len(report.matches) == 16 and all(m.counted and m.passed and m.claim and m.source for m in report.matches)
    counted = [c for c in report.checks if c.counted]
    assert [c.name.split(" (")[0] for c in counted] == ["modes learned in order of strength"] + [
        f"level {k} modes follow the closed-form trajectory" for k in range(5)
    ] + [f"level {k} differentiates before level {k + 1}" for k in (1, 2, 3)]
    assert all(c.passed and c.claim and c.source for c in counted)
    for c in counted[1:6]:
        assert c.value == pytest.approx(0.0, abs=1e-5)  # the curves are the closed form itself
    roles = {c.name.split(" (")[0]: c.role for c in report.checks if not c.counted}
    assert roles["every mode learned"] == "precondition"
    assert {roles[f"level {k} differentiation clear at end"] for k in (1, 2, 3)} == {"precondition"}
    assert {roles[f"level {k} differentiation ratio at init"] for k in (1, 2, 3)} == {"info"}
    for m, p in zip(report.matches, base.preds):
        assert m.observed_step == pytest.approx(p.step, rel=0.01)
        assert m.depends_on and "small init_std" in m.depends_on[0]


@pytest.mark.parametrize("mode", [0, 5, 15])
def test_a_mode_rising_30_percent_late_fails_its_match(base, mode):
    run = fresh(base)
    p = base.preds[mode]
    run.curves[("mode/strength", mode)] = saxe.mode_trajectory(STEPS / 1.3, p.extra["s"], p.extra["u0"], p.extra["lr"])
    report = analyse_run(run)
    bad = report.matches[mode]
    assert not bad.passed and bad.relative_error == pytest.approx(0.3, abs=0.02)
    assert bad.prediction in report.failed_claims and report.verdict == "partial"


def test_a_mode_that_never_rises_has_no_event_and_fails_with_the_reason(base):
    run = fresh(base)
    run.curves[("mode/strength", 9)] = np.full(len(STEPS), base.preds[9].extra["u0"])
    report = analyse_run(run)
    assert report.matches[9].observed_step is None and report.matches[9].reason == "dynamics event absent"
    assert not row(report, "modes learned in order").passed and row(report, "modes learned in order").reason == "1 mode rise(s) absent"
    assert report.verdict == "invalid"  # it is not learned either: a failed precondition


def test_a_level_differentiating_30_percent_late_fails_the_matches_of_its_modes(base):
    run = fresh(base)
    t_half = np.mean([p.step for p in base.preds[4:8]])
    run.set_level(3, 1.3 * t_half)
    report = analyse_run(run)
    assert [m.passed for m in report.matches] == [True] * 4 + [False] * 4 + [True] * 8
    assert all(m.mechanism_step == pytest.approx(1.3 * t_half, rel=0.01) for m in report.matches[4:8])


def test_a_weak_mode_learned_before_a_strong_one_breaks_the_order(base):
    run = fresh(base)
    p = base.preds[15]  # level 4, the weakest
    run.curves[("mode/strength", 15)] = saxe.mode_trajectory(STEPS, p.extra["s"], p.extra["u0"], 4 * p.extra["lr"])
    report = analyse_run(run)
    order = row(report, "modes learned in order")
    assert not order.passed and 0.8 < order.value < 1.0
    assert report.verdict == "partial"


def test_a_trajectory_off_the_closed_form_fails_although_its_half_rise_is_right(base):
    run = fresh(base)
    for m in (2, 3):  # level 2: the half-rise where theory puts it, then a transient dip of 0.3·s the closed form has not
        dip = 0.3 * base.preds[m].extra["s"] * np.exp(-(((STEPS - 400) / 30) ** 2))
        run.curves[("mode/strength", m)] = base.curves[("mode/strength", m)] - dip
    report = analyse_run(run)
    assert report.matches[2].passed and report.matches[3].passed
    level2 = row(report, "level 2 modes follow the closed-form trajectory")
    assert not level2.passed and level2.value == pytest.approx(0.3, abs=0.01)
    assert [c.passed for c in report.checks if "closed-form" in c.name] == [True, True, False, True, True]
    assert report.failed_claims == [level2.name] and report.verdict == "partial"


def test_fine_before_coarse_differentiation_fails_the_progressive_order(base):
    run = fresh(base)
    t2 = np.mean([p.step for p in base.preds[2:4]])
    t3 = np.mean([p.step for p in base.preds[4:8]])
    run.set_level(2, t3)
    run.set_level(3, t2)
    report = analyse_run(run)
    assert not row(report, "level 2 differentiates before level 3").passed
    assert row(report, "level 1 differentiates before level 2").passed
    assert report.verdict == "partial"


def test_a_level_that_never_differentiates_has_no_event_and_invalidates_the_report(base):
    run = fresh(base)
    run.curves[("differentiation/between", 2)] = np.full(len(STEPS), 0.01)
    run.curves[("differentiation/ratio", 2)] = np.ones(len(STEPS))
    report = analyse_run(run)
    before = row(report, "level 1 differentiates before level 2")
    assert not before.passed and before.reason == "differentiation event absent: level 2"
    assert [m.reason for m in report.matches[2:4]] == ["mechanism event absent"] * 2
    assert not row(report, "level 2 differentiation clear at end").passed
    assert report.verdict == "invalid"


def test_an_unconverged_mode_makes_the_report_invalid_not_failed(base):
    run = fresh(base)
    run.curves[("mode/strength", 12)] = 0.9 * base.curves[("mode/strength", 12)]
    report = analyse_run(run)
    learned = row(report, "every mode learned")
    assert learned.role == "precondition" and not learned.passed and learned.value == pytest.approx(0.1, abs=1e-3)
    assert report.verdict == "invalid"


def test_the_chance_ratio_at_init_is_information_only(base):
    run = fresh(base)
    run.curves[("differentiation/ratio", 1)] = base.curves[("differentiation/ratio", 1)] + 0.5  # far from chance at init
    report = analyse_run(run)
    info = row(report, "level 1 differentiation ratio at init")
    assert info.role == "info" and not info.passed and report.verdict == "pass"


def test_the_trajectory_target_is_read_from_the_targets(base):
    run = fresh(base)
    p = base.preds[1]
    run.curves[("mode/strength", 1)] = saxe.mode_trajectory(STEPS / 1.05, p.extra["s"], p.extra["u0"], p.extra["lr"])  # 5% late
    error = row(analyse_run(run), "level 1 modes follow").value
    assert 0.01 < error < 0.15
    assert row(analyse_run(run), "level 1 modes follow").passed
    strict = dataclasses.replace(PRESETS["quick"].targets, trajectory=error / 2)
    assert not row(analyse_run(run, strict), "level 1 modes follow").passed


@pytest.mark.parametrize("setting", ["train.momentum=0.9", "train.weight_decay=0.01", "train.warmup=50", "train.decay=linear", "train.clip_grad_norm=1.0", "train.optimizer=adam"])
def test_training_the_theory_does_not_describe_is_refused_before_any_work(setting, tmp_path, capsys):
    # Saxe's modes are gradient flow: with momentum 0.9 the strongest mode rises half-way at step 16 where the
    # prediction says 50, and every half-rise claim failed as if the theory were wrong
    from bridge.cli import main
    from bridge.config import ConfigError
    from bridge.overrides import apply

    with pytest.raises(ConfigError, match=setting.split(".", 1)[1].split("=")[0]):
        apply(PRESETS["quick"], [setting])
    assert main(["run", "deep-linear", "--set", setting, "--out", str(tmp_path / "out")]) == 2
    assert "deep-linear (Saxe's mode dynamics) assumes full-batch gradient descent" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_predictions_refuse_a_run_trained_with_momentum(tmp_path):
    import bridge
    from bridge.config import ConfigError

    cfg = run_config(PRESETS["quick"], seed=0)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, momentum=0.9, steps=2))
    run = bridge.train(cfg, tmp_path / "run", device="cpu", progress=False)
    for predict in (predictions, saxe.predict_run):
        with pytest.raises(ConfigError, match="momentum=0.9"):
            predict(run)


def test_a_tie_between_a_stronger_and_a_weaker_modes_half_rise_is_not_the_right_order():
    """The order row counts a pair of clearly different strengths as right only when the stronger
    mode rises strictly first: a tie is not stronger-first; pairs within the 1 % margin are not counted."""
    from case_studies.deep_linear import _order_fraction

    assert _order_fraction(np.array([2.0, 1.0]), np.array([100.0, 100.0])) == 0.0
    assert _order_fraction(np.array([2.0, 1.0]), np.array([50.0, 100.0])) == 1.0
    assert _order_fraction(np.array([2.0, 1.0]), np.array([100.0, 50.0])) == 0.0
    assert _order_fraction(np.array([3.0, 2.0, 1.0]), np.array([10.0, 20.0, 20.0])) == pytest.approx(2 / 3)  # the 2-1 pair ties
    assert _order_fraction(np.array([1.005, 1.0]), np.array([100.0, 50.0])) == 1.0  # within the margin: no pair to judge


def test_two_levels_differentiating_at_the_same_step_are_not_coarse_before_fine(base):
    run = fresh(base)
    t3 = np.mean([p.step for p in base.preds[4:8]])
    run.set_level(2, t3)  # levels 2 and 3 reach their half-rise at one step
    report = analyse_run(run)
    tie = row(report, "level 2 differentiates before level 3")
    assert not tie.passed and tie.value == f"{t3:.1f} < {t3:.1f}"
    assert row(report, "level 1 differentiates before level 2").passed


def test_two_levels_a_twentieth_of_a_step_apart_print_their_order(base):
    """The row printed one decimal: '129.0 < 129.0' on a passing row."""
    run = fresh(base)
    t3 = np.mean([p.step for p in base.preds[4:8]])
    run.set_level(2, t3 - 0.05)
    before = row(analyse_run(run), "level 2 differentiates before level 3")
    left, right = before.value.split(" < ")
    assert before.passed and left != right and 0.04 <= float(right) - float(left) <= 0.06, before.value
    assert [len(text.split(".")[1]) for text in (left, right)] == [2, 2]


def test_a_level_is_judged_on_its_worst_mode_not_on_the_mean_of_its_modes(base):
    run = fresh(base)
    p = base.preds[5]  # one of level 3's four modes dips by 0.3·s; the other three follow the closed form
    dip = 0.3 * p.extra["s"] * np.exp(-(((STEPS - 400) / 30) ** 2))
    run.curves[("mode/strength", 5)] = base.curves[("mode/strength", 5)] - dip
    level3 = row(analyse_run(run), "level 3 modes follow the closed-form trajectory")
    assert "its 4 modes" in level3.name and not level3.passed and level3.value == pytest.approx(0.3, abs=0.01)


def test_the_weakest_mode_is_judged_on_the_closed_form_too(base):
    p = base.preds[15]  # the last of level 4's eight modes dips by 0.3·s
    run = fresh(base)
    run.curves[("mode/strength", 15)] = base.curves[("mode/strength", 15)] - 0.3 * p.extra["s"] * np.exp(-(((STEPS - 500) / 30) ** 2))
    level4 = row(analyse_run(run), "level 4 modes follow the closed-form trajectory")
    assert not level4.passed and level4.value == pytest.approx(0.3, abs=0.01)


def test_a_level_1_mode_needs_its_level_to_differentiate(base):
    run = fresh(base)
    run.curves[("differentiation/between", 1)] = np.full(len(STEPS), 0.01)
    report = analyse_run(run)
    assert report.matches[1].mechanism_step is None and not report.matches[1].passed
    assert report.matches[1].reason == "mechanism event absent"
    assert report.matches[0].passed  # level 0 (the mean mode) has no category to differentiate


def test_a_ratio_at_init_far_below_chance_is_outside_the_chance_band(base):
    run = fresh(base)
    run.curves[("differentiation/ratio", 2)] = base.curves[("differentiation/ratio", 2)] - 0.5
    info = row(analyse_run(run), "level 2 differentiation ratio at init")
    assert info.value == pytest.approx(0.5, abs=0.01) and not info.passed and info.role == "info"
    assert row(analyse_run(base), "level 2 differentiation ratio at init").passed


@pytest.mark.parametrize(("sds", "clear"), [(2.0, False), (4.0, True)])
def test_a_level_is_clearly_differentiated_only_beyond_three_chance_sds_above_one(base, sds, clear):
    """The precondition reads 'ratio above 1 + 3 chance s.d.': a final ratio of 1 + 2 s.d. is above chance
    but not clear (the report is invalid), 1 + 4 s.d. is clear."""
    run = fresh(base)
    t_half = np.mean([p.step for p in base.preds[2:4]])
    run.set_level(2, t_half, rise=sds * RATIO_SD)
    report = analyse_run(run)
    end = row(report, "level 2 differentiation clear at end")
    assert end.value == pytest.approx(1 + sds * RATIO_SD, abs=1e-3) and end.passed is clear
    assert (report.verdict == "invalid") is not clear


def test_a_mode_curve_with_a_missing_checkpoint_fails_its_levels_trajectory_row(base):
    """A NaN strength at one checkpoint (the final value intact) is not a mode on the closed form:
    the level's worst error is not a number and its row fails."""
    run = fresh(base)
    curve = base.curves[("mode/strength", 5)].copy()
    curve[60] = np.nan
    run.curves[("mode/strength", 5)] = curve
    level3 = row(analyse_run(run), "level 3 modes follow the closed-form trajectory")
    assert np.isnan(level3.value) and not level3.passed


def test_every_mode_learned_reads_the_last_checkpoint(base):
    """A mode that reaches s and then falls back to 0.9·s at the last checkpoint has not been learned."""
    run = fresh(base)
    curve = base.curves[("mode/strength", 12)].copy()
    curve[-1] *= 0.9
    run.curves[("mode/strength", 12)] = curve
    learned = row(analyse_run(run), "every mode learned")
    assert not learned.passed and learned.value == pytest.approx(0.1, abs=1e-3)


@pytest.mark.parametrize(("key", "check"), [(("mode/strength", 12), "every mode learned"), (("differentiation/ratio", 2), "level 2 differentiation clear at end")])
def test_preconditions_measured_as_not_a_number_fail(base, key, check):
    """A final mode strength or a final differentiation ratio that is NaN is not 'learned' or 'clear': the report is invalid."""
    run = fresh(base)
    curve = base.curves[key].copy()
    curve[-1] = np.nan
    run.curves[key] = curve
    report = analyse_run(run)
    assert not row(report, check).passed and report.verdict == "invalid"
