"""Event and stage detectors on curves with known answers."""

import numpy as np
import pytest

from bridge.stages.detectors import half_rise, plateaus_and_drops, settled_crossing, threshold_crossing


def sigmoid(t, t0, width):
    return 1 / (1 + np.exp(-(t - t0) / width))


@pytest.mark.parametrize("t0,width", [(100.0, 5.0), (350.0, 30.0), (40.0, 2.0)])
def test_half_rise_of_a_sigmoid(t0, width):
    t = np.arange(0.0, 1000.0, 1.0)
    event = half_rise(t, 0.2 + 3.0 * sigmoid(t, t0, width))
    # exact crossing of (0.2 + top)/2 where top ≈ 3.2 is the sigmoid's centre, up to the start offset
    assert event.step == pytest.approx(t0, abs=0.02 * width + 0.5)
    assert event.lo <= event.step <= event.hi and event.hi - event.lo == 1.0


def test_half_rise_of_a_falling_curve_and_flat_curve():
    t = np.linspace(0, 10, 101)
    assert half_rise(t, 1 - sigmoid(t, 4.0, 0.3)).step == pytest.approx(4.0, abs=0.05)
    assert half_rise(t, np.ones_like(t)) is None


def test_last_crossing_skips_a_transient_bump_and_agrees_on_a_monotone_rise():
    t = np.arange(0.0, 1000.0, 10.0)
    bump = 0.6 * np.exp(-(((t - 250.0) / 40.0) ** 2))  # up past half-way and back, long before the rise
    rise = sigmoid(t, 700.0, 20.0)
    first, last = half_rise(t, rise + bump), half_rise(t, rise + bump, crossing="last")
    assert first.step < 250.0
    assert last.step == pytest.approx(700.0, abs=5.0) and last.lo <= last.step <= last.hi == last.lo + 10.0
    assert half_rise(t, rise, crossing="last") == half_rise(t, rise)
    assert half_rise(t, 1 - rise - bump, crossing="last").step == pytest.approx(700.0, abs=5.0)  # falling curves too
    assert half_rise(t, np.where(t < 900, rise, 0.2), crossing="last") is None  # falls back below half-way at the end
    with pytest.raises(ValueError, match="crossing"):
        half_rise(t, rise, crossing="middle")


def test_threshold_crossing_interpolates_and_reports_absence():
    assert threshold_crossing([0, 10, 20], [1.0, 0.6, 0.2], 0.4, "down").step == pytest.approx(15.0)
    assert threshold_crossing([0, 10], [0.0, 0.1], 0.5) is None
    with pytest.raises(ValueError, match="direction"):
        threshold_crossing([0, 1], [0, 1], 0.5, "sideways")


def test_settled_crossing_ignores_chance_excursions_of_a_noisy_rise():
    rng = np.random.default_rng(0)
    t = np.arange(0.0, 1500.0, 25.0)
    clean = 5.0 * sigmoid(t, 600.0, 30.0)
    noisy = clean + rng.normal(0.0, 0.3, t.shape)
    noisy[8] = 4.5  # one chance excursion above the level long before the rise (step 200)
    first, settled = threshold_crossing(t, noisy, 4.0), settled_crossing(t, noisy, 4.0)
    assert first.step < 225.0
    assert settled.step == pytest.approx(600.0 + 30.0 * np.log(4.0), abs=30.0)  # where the clean curve reaches 4
    assert settled.lo <= settled.step <= settled.hi == settled.lo + 25.0 and settled.kind == "settled"
    on_clean, first_clean = settled_crossing(t, clean, 4.0), threshold_crossing(t, clean, 4.0)  # a monotone rise: the same crossing
    assert (on_clean.step, on_clean.lo, on_clean.hi) == (first_clean.step, first_clean.lo, first_clean.hi)
    assert settled_crossing(t, 5.0 - clean, 1.0, "down").step == pytest.approx(threshold_crossing(t, 5.0 - clean, 1.0, "down").step)
    assert settled_crossing(t, np.where(t < 1400, clean, 3.0), 4.0) is None  # ends short of the level
    assert settled_crossing(t, clean + 10.0, 4.0) is None  # never short of it: no crossing
    with pytest.raises(ValueError, match="direction"):
        settled_crossing(t, clean, 4.0, "sideways")


def test_a_late_spike_of_at_most_blip_samples_does_not_unsettle_a_learned_curve():
    """A learned loss spiking back over the level for one sample (a training spike) keeps its first settling;
    a longer excursion is forgetting and moves it; the first samples, before any learning, always count."""
    from bridge.stages.quanta import BLIP, subtask_drop

    t, level = np.arange(0.0, 30000.0, 50.0), np.log(2.0) / 2
    loss = 0.69 * (1 - sigmoid(t, 1500.0, 60.0)) + 1e-3
    spiked = loss.copy()
    spiked[t == 22150] = 0.376  # seed 2 of the quanta budget run: one tracked step above chance / 2
    learned = settled_crossing(t, loss, level, "down")
    assert 22150 < settled_crossing(t, spiked, level, "down").step < 22200  # without blip: dated at the recovery from the spike
    assert settled_crossing(t, spiked, level, "down", blip=BLIP).step == pytest.approx(learned.step)
    assert subtask_drop(t, spiked).step == pytest.approx(learned.step) and abs(learned.step - 1500) < 50
    forgot = loss.copy()
    forgot[(t >= 20000) & (t < 20000 + 50 * (BLIP + 1))] = 0.6  # longer than a blip: forgotten and relearned
    assert settled_crossing(t, forgot, level, "down", blip=BLIP).step > 20000
    assert settled_crossing([0, 10, 20, 30], [0.9, 0.1, 0.1, 0.1], 0.5, "down", blip=3).step == pytest.approx(5.0)  # the start is no blip


def test_an_excursion_of_exactly_blip_samples_is_forgiven_and_one_more_is_not():
    """``blip`` is inclusive: a run of ``blip`` samples back short of the level, with the values
    beyond it on both sides, keeps the first settling; ``blip + 1`` samples date it after the run."""
    t = np.arange(0.0, 110.0, 10.0)  # 0, 10, ..., 100
    for blip in (1, 2, 3):
        for length, forgiven in ((blip, True), (blip + 1, False)):
            y = np.array([1.0, 0.2] + [0.1] * 9)  # settles below 0.5 between 0 and 10 (at 6.25)
            y[4 : 4 + length] = 0.9  # samples 40, 50, ... back above the level
            event = settled_crossing(t, y, 0.5, "down", blip=blip)
            if forgiven:
                assert event.step == pytest.approx(6.25), (blip, length, event)
            else:
                end = 40.0 + 10.0 * (length - 1)  # the last sample of the excursion, then down to 0.1 at end + 10
                assert event.step == pytest.approx(end + 10.0 * 0.4 / 0.8), (blip, length, event)
                assert (event.lo, event.hi) == (end, end + 10.0)


def test_stage_boundary_uncertainty_is_the_larger_neighbouring_sampling_interval():
    """On log-spaced checkpoints the two intervals at a boundary differ by 2x: each boundary's
    uncertainty is the larger one (the interval before the first and after the last sample is 0)."""
    t = np.array([0.0, 10, 20, 40, 80, 160, 320, 640, 1280, 2560])
    stages = plateaus_and_drops(t, 1.0 + 3.0 * (t < 100), smooth=1)  # a step between 80 and 160
    assert [(s.kind, s.start, s.end) for s in stages] == [("plateau", 0.0, 80.0), ("drop", 80.0, 160.0), ("plateau", 160.0, 2560.0)]
    assert [(s.start_uncertainty, s.end_uncertainty) for s in stages] == [(10.0, 80.0), (80.0, 160.0), (160.0, 1280.0)]
    assert stages[1].change == pytest.approx(-np.log(4.0))


def test_plateau_drop_plateau_of_a_saddle_escape():
    t = np.arange(0.0, 2000.0, 10.0)
    loss = 3.0 - 2.5 * sigmoid(t, 800.0, 20.0)
    stages = plateaus_and_drops(t, loss, name="loss")
    assert [s.kind for s in stages] == ["plateau", "drop", "plateau"]
    drop = stages[1]
    assert drop.start < 800.0 < drop.end
    assert 40.0 <= drop.end - drop.start <= 200.0
    total = np.log(0.5 / 3.0)  # the whole log-loss change; the drop holds most of it, the tails sit in the plateaus
    assert total - 0.01 < drop.change < 0.8 * total


def test_a_noisy_sample_two_steps_after_a_regular_one_does_not_move_the_drop():
    # checkpoints every 50 steps plus a log-spaced one at 1002: the rate over 1000 -> 1002
    # is measured over 2 steps, so 5 % of noise there would be the steepest "rate" of the curve
    t = np.arange(0.0, 2001.0, 50.0)
    loss = 0.2 + 4.0 * (1 - sigmoid(t, 720.0, 40.0))
    with_extra = np.insert(t, 21, 1002.0), np.insert(loss, 21, loss[20] * 0.95)
    plain = [(s.kind, s.start, s.end) for s in plateaus_and_drops(t, loss, smooth=1)]
    assert [(s.kind, s.start, s.end) for s in plateaus_and_drops(*with_extra, smooth=1)] == plain
    assert [k for k, _, _ in plain] == ["plateau", "drop", "plateau"] and plain[1][1] < 720.0 < plain[1][2]
    log_spaced = np.array([0.0, 1, 2, 4, 8, 16, 32, 64, 128, 256])  # nothing is a near duplicate here
    drop = [s for s in plateaus_and_drops(log_spaced, 1.0 + 3.0 * (log_spaced < 3)) if s.kind == "drop"]
    assert [(s.start, s.end) for s in drop] == [(2.0, 4.0)]


def test_the_drop_does_not_depend_on_dense_early_checkpoints():
    # a fast early fall sampled at steps 1, 2, 3, 5, 8, ... then every 250 steps, and a 2.7-nat drop at 5000:
    # over the one-step early intervals the log-loss falls faster per step than in the drop, which must not make
    # the drop a plateau; every 250 steps alone the same curve gives the same drop
    from bridge.config import ScheduleConfig
    from bridge.training.schedule import checkpoint_steps

    def loss(t):
        return 3.0 + (np.log(64) - 3.0) * np.exp(-t / 20.0) - 2.7 * sigmoid(t, 5000.0, 100.0)

    mixed = np.array(checkpoint_steps(20000, ScheduleConfig(n_log=20, every=250)), dtype=float)
    regular = np.arange(0.0, 20001.0, 250.0)
    assert mixed[1:6].tolist() == [1.0, 2.0, 3.0, 5.0, 8.0] and len(mixed) > len(regular)
    drops = {name: [s for s in plateaus_and_drops(t, loss(t)) if s.kind == "drop"] for name, t in (("mixed", mixed), ("regular", regular))}
    main = {name: min(d, key=lambda s: s.change) for name, d in drops.items()}
    assert (main["mixed"].start, main["mixed"].end) == (main["regular"].start, main["regular"].end)
    assert main["mixed"].start < 5000.0 < main["mixed"].end and main["mixed"].change < -2.0


def test_non_finite_samples_are_left_out():
    t = np.arange(0.0, 100.0)
    rise = sigmoid(t, 60.0, 3.0)
    holed = rise.copy()
    holed[[10, 30, 59]] = np.nan
    kept = np.isfinite(holed)
    assert half_rise(t, holed) == half_rise(t[kept], rise[kept])
    assert half_rise(t, holed).lo <= half_rise(t, holed).step <= half_rise(t, holed).hi
    assert threshold_crossing(t, holed, 0.5) == threshold_crossing(t[kept], rise[kept], 0.5)
    assert np.isfinite(threshold_crossing(t, holed, 0.5).step)
    falling = 1 - rise
    falling[[80, 90]] = np.nan  # a NaN after the fall is not "beyond" the level and does not unsettle it either
    assert settled_crossing(t, falling, 0.5, "down") == settled_crossing(t[np.isfinite(falling)], falling[np.isfinite(falling)], 0.5, "down")
    loss = 3.0 - 2.5 * sigmoid(t * 20, 800.0, 20.0)
    loss[40] = np.nan
    assert [s.kind for s in plateaus_and_drops(t * 20, loss)] == ["plateau", "drop", "plateau"]
    nothing = [np.nan, 1.0, np.inf]  # fewer than two finite samples: nothing to find (an unstable theory curve, say)
    assert half_rise([0, 1, 2], nothing) is None and threshold_crossing([0, 1, 2], nothing, 0.5) is None
    assert settled_crossing([0, 1, 2], nothing, 0.5) is None and plateaus_and_drops([0, 1, 2], nothing) == []


def test_a_given_top_sets_the_direction():
    # the last sample dips below the start (a catapult at the end of the window): with top given, the rise is still found
    t = np.arange(0.0, 300.0)
    ramp = 1.0 + 4.0 * np.clip((t - 100.0) / 100.0, 0, 1)
    dipped = np.append(ramp[:-1], 0.5)
    assert half_rise(t, dipped, top=5.0).step == pytest.approx(150.0, abs=1.0)
    assert half_rise(t, dipped, top=5.0) == half_rise(t, ramp, top=5.0)
    assert half_rise(t, 6.0 - ramp, top=1.0).step == pytest.approx(150.0, abs=1.0)  # a fall to a given bottom


def test_two_drops_are_separated():
    t = np.arange(0.0, 3000.0, 10.0)
    loss = 4.0 - 2.0 * sigmoid(t, 700.0, 15.0) - 1.5 * sigmoid(t, 2000.0, 15.0)
    kinds = [s.kind for s in plateaus_and_drops(t, loss)]
    assert kinds == ["plateau", "drop", "plateau", "drop", "plateau"]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="increasing"):
        half_rise([0, 2, 1], [0, 1, 2])
    with pytest.raises(ValueError, match="one length"):
        half_rise([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="positive"):
        plateaus_and_drops([0, 1, 2], [1.0, 0.0, -1.0])


def test_a_value_exactly_at_the_threshold_is_beyond_it():
    t = [0, 10, 20, 30]
    for event in (threshold_crossing(t, [0.0, 0.5, 0.5, 0.5], 0.5), settled_crossing(t, [0.0, 0.5, 0.5, 0.5], 0.5)):
        assert (event.step, event.lo, event.hi) == (10.0, 0.0, 10.0)
    assert settled_crossing(t, [1.0, 0.5, 0.5, 0.5], 0.5, "down").step == 10.0


def test_an_excursion_still_under_way_at_the_end_is_no_blip():
    t = np.arange(0.0, 60.0, 10.0)
    assert settled_crossing(t, [1.0, 0.2, 0.1, 0.1, 0.1, 0.9], 0.5, "down", blip=1) is None  # ends short of the level
    assert settled_crossing(t, [1.0, 0.2, 0.1, 0.1, 0.9, 0.1], 0.5, "down", blip=1).step == pytest.approx(6.25)


def test_a_curve_that_ends_at_its_start_rises_to_its_maximum():
    event = half_rise([0, 1, 2, 3, 4], [0.0, 0.0, 1.0, 0.0, 0.0])
    assert (event.step, event.lo, event.hi) == (1.5, 1.0, 2.0)


def test_a_drop_falls_faster_than_the_rate_threshold_and_by_at_least_min_change():
    t = np.arange(5.0)
    # falls per step 0, 4, 1, 0: the interval at exactly a quarter of the steepest rate is not part of the drop
    stages = plateaus_and_drops(t, [5.0, 5.0, 1.0, 0.0, 0.0], log=False, smooth=1)
    assert [(s.kind, s.start, s.end, s.change) for s in stages] == [("plateau", 0.0, 1.0, 0.0), ("drop", 1.0, 2.0, -4.0), ("plateau", 2.0, 4.0, -1.0)]
    # a fall of exactly min_change is a drop
    stages = plateaus_and_drops(t[:4], [1.0, 1.0, 0.75, 0.75], log=False, smooth=1, min_change=0.25)
    assert [(s.kind, s.start, s.end, s.change) for s in stages] == [("plateau", 0.0, 1.0, 0.0), ("drop", 1.0, 2.0, -0.25), ("plateau", 2.0, 3.0, 0.0)]


def test_a_drop_at_either_end_of_the_curve_leaves_no_empty_plateau():
    t = np.arange(5.0)
    first = plateaus_and_drops(t, [4.0, 0.0, 0.0, 0.0, 0.0], log=False, smooth=1)
    last = plateaus_and_drops(t, [4.0, 4.0, 4.0, 4.0, 0.0], log=False, smooth=1)
    assert [(s.kind, s.start, s.end) for s in first] == [("drop", 0.0, 1.0), ("plateau", 1.0, 4.0)]
    assert [(s.kind, s.start, s.end) for s in last] == [("plateau", 0.0, 3.0), ("drop", 3.0, 4.0)]


def test_a_sample_spaced_like_the_one_before_it_is_kept_where_sparse_sampling_begins():
    t = np.array([0.0, 10, 20, 30, 40, 400, 800, 1200, 1600])  # every 10 steps, then every 400
    stages = plateaus_and_drops(t, np.where(t <= 30, 2.0, 0.5), smooth=1)
    assert [(s.kind, s.start, s.end) for s in stages] == [("plateau", 0.0, 30.0), ("drop", 30.0, 40.0), ("plateau", 40.0, 1600.0)]
    assert stages[1].change == pytest.approx(np.log(0.25))


def test_the_onset_and_end_of_a_subtask_drop_within_one_sampling_interval():
    """A drop from chance to 0 between two samples crosses 0.9 b, b / 2 and 0.1 b in the same interval."""
    from bridge.stages.quanta import subtask_drop

    drop = subtask_drop([0, 10, 20, 30], [1.0, 1.0, 0.0, 0.0], chance=1.0)
    assert (drop.onset, drop.step, drop.end, drop.width) == pytest.approx((11.0, 15.0, 19.0, 8.0))
    assert (drop.event.lo, drop.event.hi) == (10.0, 20.0)


def test_value_at_reads_the_first_and_last_samples_and_nothing_outside():
    from bridge.stages.quanta import value_at

    assert (value_at([0, 10, 20], [0.0, 1.0, 3.0], 0.0), value_at([0, 10, 20], [0.0, 1.0, 3.0], 20.0)) == (0.0, 3.0)
    assert np.isnan(value_at([0, 10, 20], [0.0, 1.0, 3.0], 20.5)) and np.isnan(value_at([0, 10, 20], [0.0, 1.0, 3.0], -0.5))


def test_a_learned_subtask_back_above_half_of_chance_for_two_samples_keeps_its_emergence():
    from bridge.stages.quanta import subtask_drop

    t = np.arange(0.0, 3000.0, 50.0)
    loss = np.log(2.0) * (1 - sigmoid(t, 1000.0, 60.0)) + 1e-3
    spiked = loss.copy()
    spiked[(t >= 2000) & (t < 2100)] = 0.6  # two tracked samples back above ln 2 / 2
    assert subtask_drop(t, spiked).step == subtask_drop(t, loss).step == pytest.approx(1000.0, abs=5.0)  # the sigmoid's centre, within the interpolation


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"smooth": 4}, "smooth must be an odd positive integer"),
    ({"smooth": 0}, "smooth must be an odd positive integer"),
    ({"smooth": 3.0}, "smooth must be an odd positive integer"),
    ({"drop_fraction": 0.0}, r"drop_fraction must lie in \(0, 1\], got 0.0"),
    ({"drop_fraction": 1.5}, r"drop_fraction must lie in \(0, 1\], got 1.5"),
    ({"min_change": -0.1}, "min_change must be >= 0, got -0.1"),
    ({"min_change": float("nan")}, "min_change must be >= 0, got nan"),
])
def test_plateaus_and_drops_refuses_settings_it_cannot_read(kwargs, message):
    """An even median window is centred half a sample off; a drop fraction of 0 makes every falling interval steep."""
    t = np.arange(100.0)
    with pytest.raises(ValueError, match=message):
        plateaus_and_drops(t, np.where(t < 50, 2.0, 0.5), **kwargs)


def test_the_largest_drop_fraction_and_no_minimum_change_are_accepted():
    """At drop_fraction 1 an interval must fall faster than the steepest span, which a one-interval step does not."""
    t, loss = np.arange(100.0), np.where(np.arange(100.0) < 50, 2.0, 0.5)
    stages = plateaus_and_drops(t, loss, drop_fraction=0.9, min_change=0.0, smooth=np.int64(5))
    assert [(s.kind, s.start, s.end) for s in stages] == [("plateau", 0.0, 49.0), ("drop", 49.0, 50.0), ("plateau", 50.0, 99.0)]
    assert [s.kind for s in plateaus_and_drops(t, loss, drop_fraction=1.0)] == ["plateau"]
