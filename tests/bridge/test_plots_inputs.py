"""Figure functions refuse bad input before drawing, with an error that names the argument."""

import numpy as np
import pytest

from bridge import plots
from bridge.plots import new_figure, quanta
from bridge.plots import parametrisation as param
from bridge.stages.detectors import Event, Stage
from bridge.theory.weight_decay import PowerLawFit, fit_power_law

T = [0.0, 1.0, 2.0]

BAD = [
    pytest.param(lambda ax: plots.plot_curves(ax, {"loss": ([0, 1, 2], [1.0, 0.5])}), ValueError, r"curves\['loss'\]: y must hold one value per x \(3\), got 2", id="curves: y shorter than x"),
    pytest.param(lambda ax: plots.plot_curves(ax, [([0, 1], [1.0, 2.0])]), TypeError, r"curves must be a mapping", id="curves: a list, not a mapping"),
    pytest.param(lambda ax: plots.plot_curves(ax, {"a": ([0, 1], [1.0, 2.0])}, {"a": ([0, 1, 2], [1.0])}), ValueError, r"theory\['a'\]: y", id="theory: mismatched"),
    pytest.param(lambda ax: plots.plot_curves(ax, {"a": [0, 1, 2]}), ValueError, r"curves\['a'\] must be an \(x, y\) pair", id="curves: no pair"),
    pytest.param(lambda ax: plots.plot_estimate_series(ax, [0, 10, 20], [1.0, 2.0], [0.1, 0.2]), ValueError, r"mean must hold one value per step \(3\), got 2", id="estimate series: mean short"),
    pytest.param(lambda ax: plots.plot_timeline(ax, [{"predicted": 1.0}]), ValueError, r"rows\[0\] has no label", id="timeline: no label"),
    pytest.param(lambda ax: plots.plot_seed_timeline(ax, ["mode 0"]), TypeError, r"rows\[0\] must be a mapping", id="seed timeline: a string row"),
    pytest.param(lambda ax: plots.plot_spectrum(ax, {"end": np.ones((3, 4))}), ValueError, r"spectra\['end'\] must be 1-D", id="spectrum: 2-D norms"),
    pytest.param(lambda ax: plots.plot_emergence(ax, T, np.ones((4, 5)), [1]), ValueError, r"norms must be \(step, K \+ 1\) = \(3, any\), got \(4, 5\)", id="emergence: norms transposed"),
    pytest.param(lambda ax: plots.plot_emergence(ax, T, np.ones((3, 5)), [5]), ValueError, r"frequencies must lie in 1 … 4", id="emergence: frequency out of range"),
    pytest.param(lambda ax: plots.plot_power_law(ax, [1e-3, 2e-3, 4e-3], [3.0, 2.0, 1.0], PowerLawFit), TypeError, r"fit must be a fitted PowerLawFit", id="power law: the class, not a fit"),
    pytest.param(lambda ax: plots.plot_power_law(ax, [], [], fit_power_law([1, 2, 4], [4.0, 2.0, 1.0])), ValueError, r"x is empty", id="power law: no run"),
    pytest.param(lambda ax: plots.plot_attention(ax, np.eye(3), [1, 2]), ValueError, r"tokens must hold one token per position \(3\), got 2", id="attention: tokens short"),
    pytest.param(lambda ax: plots.plot_loss_stages(ax, {"loss": (T, [1.0, 0.5, 0.1], "C0-")}, llc=(T, [1.0, 2.0], [0.1, 0.1, 0.1])), ValueError, r"llc mean must hold one value per step \(3\), got 2", id="loss stages: llc short"),
    pytest.param(lambda ax: plots.plot_loss_stages(ax, {"loss": (T, [1.0, 0.5, 0.1])}), ValueError, r"curves\['loss'\] must be \(steps, values, style\)", id="loss stages: no style"),
    pytest.param(lambda ax: plots.plot_reach(ax, {"test": (T, [1, 2])}), ValueError, r"curves\['test'\]: y", id="reach: mismatched"),
    pytest.param(lambda ax: plots.plot_previous_token_coverage(ax, {"previous_token_by_position": {"L0H0": [0.5, 0.5]}, "demand": [1.0], "reach": 1}), ValueError, r"coverage\['demand'\] must hold one value per query", id="coverage: demand short"),
    pytest.param(lambda ax: plots.plot_previous_token_coverage(ax, {"previous_token_by_position": {"L0H0": [0.5]}, "demand": [1.0]}), ValueError, r"coverage has no 'reach'", id="coverage: no reach"),
    pytest.param(lambda ax: plots.plot_fraction_vs_scale(ax, [0.1, 1.0, 10.0], {"χ_0": [0.5, 0.7]}, {}), ValueError, r"fractions\['χ_0'\] must hold one value per α \(3\), got 2", id="fractions short"),
    pytest.param(lambda ax: plots.plot_draw_means(ax, 10.0, {"a": [1.0, 2.0], "b": [1.0, 2.0]}, ["C0"]), ValueError, r"colours must hold one colour per series in draws \(2\)", id="draw means: a colour short"),
    pytest.param(lambda ax: plots.plot_kernel_distance(ax, [], [], 0.1, None), ValueError, r"alphas is empty", id="kernel distance: empty"),
    pytest.param(lambda ax: plots.plot_kernel_distance(ax, [0.1, 1.0], [0.5], 0.1, None), ValueError, r"distances must hold one value per α \(2\), got 1", id="kernel distance: short"),
    pytest.param(lambda ax: plots.plot_test_vs_scale(ax, [0.1, 1.0], [0.5, 0.4], 0.5, 0.1, None, moved=[0.5]), ValueError, r"moved must hold one value per α", id="test vs scale: moved short"),
    pytest.param(lambda ax: plots.plot_llc_vs_theory(ax, ["a", "b"], theory=[1.0, 2.0], estimate=[1.0], std=[0.1, 0.1]), ValueError, r"estimate must hold one value per label \(2\), got 1", id="llc: estimate short"),
    pytest.param(lambda ax: plots.plot_chain_traces(ax, T, np.ones((3, 4))), ValueError, r"excess must be \(chain, draw\) = \(any, 3\), got \(3, 4\)", id="chain traces: transposed"),
    pytest.param(lambda ax: param.plot_coordinate_check(ax, [64, 128], {"input": [1.0, 1.0, 1.0]}), ValueError, r"curves\['input'\] must hold one value per width \(2\), got 3", id="coordinate check: long"),
    pytest.param(lambda ax: param.plot_loss_vs_lr(ax, [0.1, 0.2], {64: [1.0]}), ValueError, r"losses\[64\] must hold one value per learning rate", id="loss vs lr: short"),
    pytest.param(lambda ax: quanta.plot_subtask_losses(ax, T, np.ones((3, 2)), [1.0]), ValueError, r"emergence must hold one value per subtask", id="subtask losses: emergence short"),
    pytest.param(lambda ax: quanta.plot_subtask_losses(ax, T, np.ones((2, 3)), [1.0, 1.0]), ValueError, r"losses must be \(step, subtask\) = \(3, any\), got \(2, 3\)", id="subtask losses: transposed"),
    pytest.param(lambda ax: quanta.plot_power_law(ax, [10, 100], [1.0, 0.5], fit_mask=[True]), ValueError, r"fit_mask must hold one flag per x \(2\), got 1", id="quanta power law: mask short"),
    pytest.param(lambda ax: quanta.plot_hidden_progress(ax, T, [1.0, 0.5, 0.1], [0.1, 0.5], 0.1), ValueError, r"share must hold one value per step \(3\), got 2", id="hidden progress: share short"),
    pytest.param(lambda ax: plots.plot_sharpness(ax, {0.0: (T, [1.0, 2.0, 3.0])}, {}), ValueError, r"curves must be keyed by positive step sizes η, got 0.0", id="sharpness: step size 0"),
    pytest.param(lambda ax: plots.plot_loss_by_step_size(ax, {0.1: (T, [1.0])}), ValueError, r"curves\[0.1\]: y", id="loss by step size: short"),
    pytest.param(lambda ax: plots.plot_layer_loading(ax, T, [{"layer 0": 1.0}]), ValueError, r"shares must hold one mapping per step \(3\), got 1", id="layer loading: short"),
    pytest.param(lambda ax: plots.plot_onset(ax, np.arange(4.0), np.ones(3), np.arange(4.0), np.ones(4), 1.0, None), ValueError, r"cos must hold one value per step in t \(4\), got 3", id="onset: cos short"),
    pytest.param(lambda ax: plots.plot_phase_diagram(ax, np.full((2, 3), "none"), [0.5, 2.0, 4.0], [0.1, 1.0]), ValueError, r"phases must be \(importance, density\) = \(3, 2\), got \(2, 3\)", id="phase diagram: transposed"),
    pytest.param(lambda ax: plots.plot_phase_diagram(ax, np.full((1, 1), "featur 1"), [0.5], [0.1]), ValueError, r"phases holds names with no colour: \['featur 1'\]", id="phase diagram: unknown phase"),
    pytest.param(lambda ax: plots.plot_feature_directions(ax, np.ones((5, 2))), ValueError, r"W must be \(2, features\) = \(2, any\), got \(5, 2\)", id="feature directions: transposed"),
    pytest.param(lambda ax: plots.plot_feature_norms(ax, T, np.ones((2, 3))), ValueError, r"norms must be \(step, feature\) = \(3, any\)", id="feature norms: transposed"),
    pytest.param(lambda ax: plots.plot_dims_vs_sparsity(ax, [1.0, 0.1], [np.ones(2)], [1.0, 0.5]), ValueError, r"dims must hold one array per run \(density\) \(2\), got 1", id="dims vs sparsity: a run short"),
    pytest.param(lambda ax: plots.plot_dims_histogram(ax, "0.5"), TypeError, r"dims must be a sequence of numbers", id="dims histogram: a string"),
    pytest.param(lambda ax: plots.plot_event_lines(ax, {"verdict": "pass", "matches": []}), TypeError, r"^events must be a list of events, stages or stored dicts \(run.events\), got dict", id="event lines: a report for the events"),
    pytest.param(lambda ax: plots.plot_event_lines(ax, [{"type": "event", "step": 3.0}, "rise"]), TypeError, r"^events\[1\] must be an event, a stage or a stored dict \(run.events\), got str", id="event lines: a string entry"),
    pytest.param(lambda ax: plots.plot_event_lines(ax, Event("rise", 15.0, 10.0, 20.0)), TypeError, r"^events must be a list .* got Event", id="event lines: one event, not a list"),
    pytest.param(lambda ax: plots.plot_stage_bands(ax, {"type": "stage", "start": 0, "end": 10}), TypeError, r"^stages must be a list of events, stages or stored dicts \(run.events\), got dict", id="stage bands: one stored stage, not a list"),
    pytest.param(lambda ax: plots.plot_stage_bands(ax, Stage("plateau", 0, 40, kind="plateau")), TypeError, r"^stages must be a list .* got Stage", id="stage bands: one stage, not a list"),
]


@pytest.mark.parametrize(("draw", "error", "message"), BAD)
def test_bad_input_is_refused_by_name_before_anything_is_drawn(draw, error, message):
    fig, ax = new_figure()
    with pytest.raises(error, match=message):
        draw(ax)
    assert not (ax.lines or ax.collections or ax.patches or ax.images or ax.texts) and len(fig.axes) == 1


@pytest.mark.parametrize("ax", [pytest.param(new_figure(), id="the (figure, axes) pair"), pytest.param(type(new_figure()[1]), id="the Axes class")])
def test_an_ax_that_is_not_an_axes_instance_is_refused_by_name(ax):
    with pytest.raises(TypeError, match=r"^ax must be a matplotlib Axes"):
        plots.plot_curves(ax, {"loss": ([0, 1], [1.0, 0.5])})
    with pytest.raises(TypeError, match=r"^ax must be a matplotlib Axes"):
        plots.plot_stage_bands(ax, [Stage("plateau", 0, 10, kind="plateau")])


def test_event_lines_and_stage_bands_still_draw_a_generator_of_entries_and_leave_out_the_other_kind():
    _, ax = new_figure()
    stored = [{"type": "event", "step": 3.0, "observable": "loss"}, {"type": "stage", "start": 0.0, "end": 10.0, "kind": "plateau"}, {"type": "prediction", "step": 4.0}]
    plots.plot_event_lines(ax, (e for e in stored))
    plots.plot_stage_bands(ax, iter(stored))
    assert [list(line.get_xdata()) for line in ax.lines] == [[3.0, 3.0]] and len(ax.patches) == 1
