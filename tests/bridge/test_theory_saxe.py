"""Saxe et al.'s theory against simulated gradient descent, depth 2 and depth 3."""

import numpy as np
import pytest
import torch

from bridge.losses import half_sse
from bridge.models import DeepLinearConfig, DeepLinearNetwork
from bridge.stages.detectors import half_rise
from bridge.tasks import LinearTeacherConfig, make_task
from bridge.theory import saxe
from bridge.theory.balanced_flow import balanced_flow


def _orthonormal(rows, cols, seed):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(rows, cols, generator=g, dtype=torch.float64))
    return q


def simulate(s, lr, steps, depth, u0=None, init_std=None, hidden=64, seed=0, every=1):
    """Full-batch GD on a linear teacher; returns (steps, strengths (t, mode), teacher info, net at init)."""
    r = len(s)
    data = make_task(LinearTeacherConfig(tuple(s), d_in=r + 2, d_out=r + 1), seed=seed)
    u, v = data.info["U"].double(), data.info["V"].double()
    x, y = data.train.x.double(), data.train.y.double()
    if u0 is not None:  # decoupled, balanced initial condition: each layer carries a = u0^(1/L) per mode
        a = torch.full((r,), u0, dtype=torch.float64) ** (1 / depth)
        rs = [_orthonormal(hidden, r, seed + 10 + i) for i in range(depth - 1)]
        ws = [rs[0] @ torch.diag(a) @ v.T]
        ws += [rs[i + 1] @ torch.diag(a) @ rs[i].T for i in range(depth - 2)]
        ws += [u @ torch.diag(a) @ rs[-1].T]
    else:
        net = DeepLinearNetwork(DeepLinearConfig(r + 2, hidden, r + 1, depth=depth, init_std=init_std), seed=seed)
        ws = [w.detach().double().clone() for w in net.weights]
    init = [w.clone() for w in ws]
    ws = [w.requires_grad_(True) for w in ws]
    out_steps, out = [], []
    for t in range(steps + 1):
        with torch.no_grad():
            total = ws[0]
            for w in ws[1:]:
                total = w @ total
            if t % every == 0:
                out_steps.append(t)
                out.append(torch.einsum("om,oi,im->m", u, total, v).numpy())
        if t == steps:
            break
        h = x
        for w in ws:
            h = h @ w.T
        loss = half_sse(h, y)
        grads = torch.autograd.grad(loss, ws)
        with torch.no_grad():
            for w, g in zip(ws, grads):
                w -= lr * g
    return np.array(out_steps), np.array(out), data, init


@pytest.mark.parametrize("s,lr", [((3.0, 1.5, 0.5), 0.008), ((2.0, 1.0), 0.012), ((1.0, 0.6, 0.3, 0.15), 0.025)])
def test_depth2_closed_form_matches_decoupled_simulation(s, lr):
    u0 = 1e-3
    horizon = int(2.5 * saxe.half_rise_step(min(s), u0, lr))
    steps, strengths, _, _ = simulate(s, lr, horizon, depth=2, u0=u0)
    for m, sm in enumerate(s):
        theory = saxe.mode_trajectory(steps, sm, u0, lr, depth=2)
        np.testing.assert_allclose(strengths[:, m], theory, atol=0.03 * sm, rtol=0)
        observed = half_rise(steps, strengths[:, m]).step
        assert observed == pytest.approx(saxe.half_rise_step(sm, u0, lr), rel=0.03)


@pytest.mark.parametrize("s,lr", [((2.0, 1.0, 0.5), 0.01), ((1.5, 0.5), 0.015)])
def test_depth3_ode_matches_decoupled_simulation(s, lr):
    u0 = 1e-3
    horizon = int(1.6 * saxe.half_rise_step(min(s), u0, lr, depth=3))
    steps, strengths, _, _ = simulate(s, lr, horizon, depth=3, u0=u0, hidden=32)
    for m, sm in enumerate(s):
        theory = saxe.mode_trajectory(steps, sm, u0, lr, depth=3)
        np.testing.assert_allclose(strengths[:, m], theory, atol=0.03 * sm, rtol=0)
        assert half_rise(steps, strengths[:, m]).step == pytest.approx(saxe.half_rise_step(sm, u0, lr, depth=3), rel=0.03)


@pytest.mark.parametrize("s,lr,seed", [((2.0, 1.0, 0.5), 0.03, 0), ((1.2, 0.4), 0.08, 1)])
def test_depth2_random_small_init_follows_effective_initial_strength(s, lr, seed):
    init_std = 2e-3
    probe_steps, _, data, _ = simulate(s, lr, 0, depth=2, init_std=init_std, hidden=256, seed=seed)
    net = DeepLinearNetwork(DeepLinearConfig(len(s) + 2, 256, len(s) + 1, init_std=init_std), seed=seed)
    u0 = saxe.effective_initial_strength(net.weights[0].detach(), net.weights[1].detach(), data.info["U"], data.info["V"]).numpy()
    horizon = int(2 * max(saxe.half_rise_step(sm, a, lr) for sm, a in zip(s, u0)))
    steps, strengths, _, _ = simulate(s, lr, horizon, depth=2, init_std=init_std, hidden=256, seed=seed)
    for m, sm in enumerate(s):
        assert half_rise(steps, strengths[:, m]).step == pytest.approx(saxe.half_rise_step(sm, float(u0[m]), lr), rel=0.05)


@pytest.mark.parametrize("s,u0,lr", [(2.0, 1e-3, 0.01), (0.3, 1e-4, 0.1), (5.0, 0.01, 0.002)])
def test_closed_form_equals_ode_integration_for_depth2(s, u0, lr):
    steps = np.linspace(0, 3 * saxe.half_rise_step(s, u0, lr), 50)
    np.testing.assert_allclose(saxe.mode_trajectory(steps, s, u0, lr, 2), saxe.ode_trajectory(steps, s, u0, lr, 2), rtol=1e-5)
    assert saxe.half_rise_step(s, u0, lr, 2) == pytest.approx(saxe.integrated_half_rise(s, u0, lr, 2), rel=1e-7)


@pytest.mark.parametrize("s, u0", [(1.0, 1e-6), (2.0, 1e-6), (1.0, 0.5), (3.0, 0.3)])
def test_half_rise_time_is_log_of_s_over_u0_plus_one_over_2_s_lr(s, u0):
    # u reaches (u0 + s)/2 when e^{2sηt} = s/u0 + 1; for small u0 that is ≈ ln(s/u0)/(2sη)
    assert saxe.half_rise_step(s, u0, 0.1) == pytest.approx(np.log(s / u0 + 1) / (2 * s * 0.1), rel=1e-12)
    assert saxe.integrated_half_rise(s, u0, 0.1, depth=2) == pytest.approx(np.log(s / u0 + 1) / (2 * s * 0.1), rel=1e-8)


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_trajectories_take_step_zero_alone_repeated_and_unsorted_steps(depth):
    assert saxe.mode_trajectory(np.array([0.0]), 2.0, 1e-3, 0.01, depth=depth).tolist() == [1e-3]
    steps = np.array([300.0, 0.0, 100.0, 100.0, 300.0])
    u = saxe.mode_trajectory(steps, 2.0, 1e-3, 0.01, depth=depth)
    alone = [float(saxe.mode_trajectory(np.array([t]), 2.0, 1e-3, 0.01, depth=depth)[0]) for t in steps]
    np.testing.assert_allclose(u, alone, rtol=1e-6)
    assert u[1] == 1e-3 and u[2] == u[3] and u[0] == u[4] > u[2] > u[1]


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match="u0"):
        saxe.half_rise_step(1.0, 2.0, 0.1)
    with pytest.raises(ValueError, match="depth"):
        saxe.mode_trajectory(np.arange(3), 1.0, 0.01, 0.1, depth=1)
    with pytest.raises(ValueError, match="integer depth"):
        saxe.mode_trajectory(np.arange(3), 1.0, 0.01, 0.1, depth=2.5)
    with pytest.raises(ValueError, match="non-negative"):
        saxe.mode_trajectory(np.array([-1.0, 2.0]), 1.0, 0.01, 0.1, depth=3)
    for u_from, u_to in [(3.0, 1.0), (1.0, 3.0), (0.0, 1.0)]:
        with pytest.raises(ValueError, match="u"):
            saxe.ode_time(2.0, u_from=u_from, u_to=u_to, lr=0.01, depth=3)


def test_measured_initial_strength_recovers_u0_and_its_rule():
    t = np.array([0.0, 200.0, 500.0, 1000.0, 1500.0, 1700.0, 2000.0, 3000.0])
    u = saxe.mode_trajectory(t, s=2.0, u0=2e-4, lr=0.01, depth=4)
    u0, t_a, u_a = saxe.measured_initial_strength(t, u, 2.0, 0.01, 4, fraction=0.02)
    assert u[t == t_a][0] == u_a <= 0.04 < u[np.searchsorted(t, t_a) + 1]  # the last checkpoint at or below 2% of s
    assert u0 == pytest.approx(2e-4, rel=1e-7)
    start = u.copy()
    start[0] = 0.1  # a random start above the level that falls back first does not count
    assert saxe.measured_initial_strength(t, start, 2.0, 0.01, 4, fraction=0.02)[1] == t_a
    negative = u.copy()
    negative[: np.searchsorted(t, t_a) + 1] = -1e-3  # still negative when it rises past the level: no prediction
    with pytest.raises(ValueError, match="no positive measured strength"):
        saxe.measured_initial_strength(t, negative, 2.0, 0.01, 4)
    with pytest.raises(ValueError, match="fraction"):
        saxe.measured_initial_strength(t, u, 2.0, 0.01, 4, fraction=0.7)
    assert saxe.strength_before(2.0, 0.3, 0.0, 0.01, 3) == 0.3


def test_balanced_start_through_train_follows_the_theory(tmp_path):
    """``init="balanced"`` puts a trained network exactly on the theory's initial condition."""
    from bridge.config import RunConfig, ScheduleConfig, TrainConfig
    from bridge.trackers.modes import ModeTracker
    from bridge.training.loop import train

    s, lr = (2.0, 1.0, 0.5), 0.04
    config = RunConfig(
        LinearTeacherConfig(s, d_in=5, d_out=4),
        DeepLinearConfig(5, 16, 4, depth=3, init="balanced", init_strength=1e-3),
        TrainConfig(lr=lr, steps=600, schedule=ScheduleConfig(n_log=0, every=4), dtype="float64"),
    )
    run = train(config, tmp_path / "run", trackers=[ModeTracker()], progress=False)
    steps, first = run.curve("mode/strength", mode=0)
    assert first[0] == pytest.approx(1e-3, rel=1e-6)
    for pred in saxe.predict_run(run):
        observed = half_rise(*run.curve("mode/strength", mode=pred.extra["mode"]), baseline=1e-3, top=pred.value)
        assert pred.extra["u0"] == 1e-3
        assert observed.step == pytest.approx(pred.step, rel=0.03)


RANDOM_START = {  # well-separated strengths, small random init: seconds of training each
    3: dict(init_std=0.02, lr=0.02, steps=1500),
    4: dict(init_std=0.03, lr=0.04, steps=1200),
}


@pytest.mark.parametrize("depth", [3, 4])
def test_deep_random_start_half_rises_from_measured_initial_strength(depth, tmp_path):
    """Depth ≥ 3 from random weights: every mode's half-rise within 15% of the prediction from its early curve."""
    from bridge.config import RunConfig, ScheduleConfig, TrainConfig
    from bridge.trackers.modes import ModeTracker
    from bridge.training.loop import train

    settings = RANDOM_START[depth]
    s = (4.0, 2.0, 1.0, 0.5)
    config = RunConfig(
        LinearTeacherConfig(s, d_in=8, d_out=8),
        DeepLinearConfig(8, 64, 8, depth=depth, init_std=settings["init_std"]),
        TrainConfig(lr=settings["lr"], steps=settings["steps"], schedule=ScheduleConfig(n_log=60, every=settings["steps"] // 100)),
    )
    run = train(config, tmp_path / "run", trackers=[ModeTracker()], progress=False)
    preds = saxe.predict_run(run)
    assert len(preds) == len(s)
    for pred in preds:
        observed = half_rise(*run.curve("mode/strength", mode=pred.extra["mode"]))
        assert pred.extra["u0_source"] == "measured" and 0 < pred.extra["u0"] < pred.extra["anchor_value"]
        assert pred.extra["anchor_step"] < observed.step  # predicted ahead of the rise, not read off it
        assert abs(pred.step / observed.step - 1) < 0.15, (pred.name, pred.step, observed.step)


_T = np.arange(0.0, 401.0, 50.0)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: saxe.mode_trajectory(np.array([0.0]), s=np.inf, u0=1e-3, lr=0.01), "need finite s > u0 > 0.*got s=inf"),
    (lambda: saxe.half_rise_step(2.0, 1e-3, lr=np.inf), "need finite s > u0 > 0, finite lr > 0.*lr=inf"),
    (lambda: saxe.strength_before(2.0, 0.5, -10.0, 0.01, 3), r"steps must be finite and non-negative, got \[-10.0\]"),
    (lambda: saxe.measured_initial_strength(np.arange(3.0), np.ones(4), 2.0, 0.01, 3), r"steps and values must be 1-D of one non-zero length, got shapes \(3,\) and \(4,\)"),
    (lambda: saxe.effective_initial_strength(torch.eye(2), torch.eye(3), torch.eye(3), torch.eye(2)), r"shapes do not fit w_in \(hidden, d_in\).*got \(2, 2\), \(3, 3\), \(3, 3\), \(2, 2\)"),
    (lambda: balanced_flow(np.array([10.0, 5.0]), np.array([[2.0]]), np.array([[0.03]]), np.array([[0.03]]), 0.01), "steps must be 1-D, finite, non-negative and non-decreasing"),
    (lambda: balanced_flow(np.array([0.0]), np.array([[2.0]]), np.array([[0.03, 0.0]]), np.array([[0.03]]), 0.01), r"shapes do not fit teacher \(d_out, d_in\)"),
    (lambda: balanced_flow(np.array([0.0]), np.array([[2.0]]), np.array([[0.03]]), np.array([[0.03]]), np.nan), "lr must be finite and positive, got nan"),
    (lambda: balanced_flow(np.array([0.0, 10.0]), np.array([[np.nan]]), np.array([[0.03]]), np.array([[0.03]]), 0.01), "teacher must be finite"),
    (lambda: balanced_flow(np.array([0.0, 10.0]), np.array([[2.0]]), np.array([[0.03]]), np.array([[np.inf]]), 0.01), "w_out must be finite"),
    (lambda: saxe.measured_initial_strength(np.arange(4.0) * 100, np.array([np.nan, 0.01, 1.0, 2.0]), 2.0, 0.01, 3), "steps and values must be finite, got step 0 with value nan"),
    (lambda: saxe.predict_modes(np.array([2.0, 1.0]), np.array([1e-3]), lr=0.01), r"strengths and u0 must be 1-D of one length \(one per mode\), got shapes \(2,\) and \(1,\)"),
    (lambda: saxe.predict_modes_from_curves(_T, np.ones((len(_T), 2)), np.array([2.0, 1.0, 0.5]), 0.01, 3), r"values must be \(n steps, modes\) = \(9, 3\).*got shape \(9, 2\)"),
])
def test_mode_dynamics_refuse_input_outside_their_domain_by_name(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_measured_initial_strength_reads_checkpoints_in_any_order():
    """The anchor is the last checkpoint in step order at or below fraction·s, whatever order the rows come in."""
    t = np.array([0.0, 200.0, 500.0, 1000.0, 1500.0, 1700.0, 2000.0, 3000.0])
    u = saxe.mode_trajectory(t, s=2.0, u0=2e-4, lr=0.01, depth=4)
    shuffled = np.array([4, 6, 0, 7, 1, 5, 2, 3])  # the 1500 row first, an earlier one last
    sorted_answer = saxe.measured_initial_strength(t, u, 2.0, 0.01, 4)
    assert saxe.measured_initial_strength(t[shuffled], u[shuffled], 2.0, 0.01, 4) == sorted_answer
    assert sorted_answer[0] == pytest.approx(2e-4, rel=1e-7) and sorted_answer[1] == 1500.0


def test_an_anchor_of_exactly_zero_strength_gets_no_prediction_and_says_so():
    t = np.array([0.0, 100.0, 200.0, 300.0])
    values = np.array([0.0, 0.0, 1.0, 2.0])  # the last checkpoint at or below 0.02·s holds exactly 0
    with pytest.raises(ValueError, match=r"no positive measured strength before it passes 0.02·s \(at step 100 \(0\)\)"):
        saxe.measured_initial_strength(t, values, 2.0, 0.01, 3)


def test_depth2_random_start_through_train_predicts_from_the_step_zero_weights(tmp_path):
    """Depth 2 from random weights: ``predict_run`` takes u0 from the step-0 weights (not from the curves), and each
    mode half-rises within 5% of the prediction."""
    from bridge.config import RunConfig, ScheduleConfig, TrainConfig
    from bridge.trackers.modes import ModeTracker
    from bridge.training.loop import train

    s, lr = (2.0, 1.0, 0.5), 0.03
    config = RunConfig(
        LinearTeacherConfig(s, d_in=5, d_out=4),
        DeepLinearConfig(5, 128, 4, depth=2, init_std=2e-3),
        TrainConfig(lr=lr, steps=700, schedule=ScheduleConfig(n_log=0, every=2), dtype="float64"),
    )
    run = train(config, tmp_path / "run", trackers=[ModeTracker()], progress=False)
    net, data = run.model_at(0), run.task_data()
    w = [t.detach().double() for t in net.weights]
    u0 = saxe.effective_initial_strength(w[0], w[1], data.info["U"].double(), data.info["V"].double()).numpy()
    preds = saxe.predict_run(run)
    assert [p.extra["mode"] for p in preds] == [0, 1, 2]
    for pred in preds:
        m = pred.extra["mode"]
        assert "u0_source" not in pred.extra and pred.extra["u0"] == pytest.approx(float(u0[m]), rel=1e-9)
        observed = half_rise(*run.curve("mode/strength", mode=m))
        assert observed.step == pytest.approx(pred.step, rel=0.05), (m, observed.step, pred.step)


def test_predict_run_names_a_depth_2_model_that_is_not_a_deep_linear_network():
    """A depth-2 run whose step-0 model is another module is refused naming its type, not an AttributeError on ``weights``."""
    from types import SimpleNamespace

    train = SimpleNamespace(lr=0.01, require_gradient_descent=lambda who: None)
    config = SimpleNamespace(train=train, model=SimpleNamespace(depth=2))
    run = SimpleNamespace(config=config, task_data=lambda: SimpleNamespace(info={"S": torch.tensor([2.0, 1.0])}), model_at=lambda step: torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="DeepLinearNetwork's two weights, got a Linear"):
        saxe.predict_run(run)
