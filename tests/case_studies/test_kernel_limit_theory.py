"""kernel-limit's theory side and its reading of the runs, on stand-in runs with a kernel known in closed form:
eigenlearning and the linearised dynamics from the initial kernel (against a step-by-step simulation and finite
differences), the sweep's per-α rows and the lazy end's per-term curves."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from bridge.tasks.boolean_cube import BooleanCubeConfig, make_boolean_cube
from bridge.theory import eigenlearning
from helpers import walsh_diagonal_kernel

torch.set_num_threads(1)

D, PER_DEGREE = 4, np.array([4.0, 2.0, 1.0, 0.5, 0.25])
SUBSETS, COEFFICIENTS = ((0,), (0, 1), (0, 1, 2)), (1.0, 2.0, 0.5)
TASK = BooleanCubeConfig(d=D, subsets=SUBSETS, coefficients=COEFFICIENTS, n_train=6)  # 10 test points: n is the training set's size


def _stand_in(curves: dict, lr: float = 0.05, task: BooleanCubeConfig = TASK) -> SimpleNamespace:
    """A run with the task's data, a learning rate and ``curves[(name, index)] = (steps, values)``."""
    data = make_boolean_cube(task, 0)
    config = SimpleNamespace(task=task, train=SimpleNamespace(lr=lr), seed=0, model=SimpleNamespace(alpha=50.0))
    return SimpleNamespace(config=config, task_data=lambda: data, curve=lambda name, **index: curves[(name, tuple(sorted(index.items())))])


def _theory(monkeypatch, kernel: np.ndarray, steps: np.ndarray, lr: float = 0.05) -> tuple[dict, dict]:
    import case_studies.kernel_limit.analysis as analysis

    monkeypatch.setattr(analysis, "initial_kernel", lambda run: kernel)
    run = _stand_in({("walsh/fraction", (("term", 0),)): (steps, np.zeros_like(steps))}, lr)
    return analysis.theory(run), run.task_data().info


def _terms() -> list[np.ndarray]:
    """χ_S of each target term on the cube's 2^D points, by the bit convention of ``cube_points`` (bit j set: x_j = −1)."""
    x = 1.0 - 2.0 * ((np.arange(2**D)[:, None] >> np.arange(D)) & 1)
    return [np.prod(x[:, list(s)], axis=1) for s in SUBSETS]


def _simulated_descent(kernel: np.ndarray, train: np.ndarray, target: np.ndarray, lr: float, steps: int) -> np.ndarray:
    """Gradient descent on the mean squared error ``(1/n) Σ (f − y)²`` of a model linear in its parameters, step by step: ``(steps + 1, N)``."""
    f, out = np.zeros(len(target)), []
    for _ in range(steps + 1):
        out.append(f.copy())
        f = f - lr * kernel[:, train] @ (2 * (f[train] - target[train]) / len(train))
    return np.array(out)


def test_the_theory_of_a_walsh_diagonal_kernel_is_per_degree_eigenlearning_and_stepwise_kernel_descent(monkeypatch):
    kernel, _ = walsh_diagonal_kernel(D, PER_DEGREE)
    steps = np.arange(0.0, 301.0)
    found, info = _theory(monkeypatch, kernel, steps)
    by_degree = eigenlearning.predict(PER_DEGREE, [0.0, *COEFFICIENTS, 0.0], n=6, multiplicities=eigenlearning.cube_multiplicities(D))
    assert found["n"] == 6 and found["prediction"].test_mse == pytest.approx(by_degree.test_mse, rel=1e-9)
    assert found["learnability"] == pytest.approx(by_degree.learnabilities[1:4], rel=1e-9)  # a diagonal kernel does not mix the terms
    assert found["degree_eigenvalues"] == pytest.approx(PER_DEGREE, rel=1e-9)
    assert found["modes"] == pytest.approx(np.concatenate([PER_DEGREE, PER_DEGREE[1:4]]), rel=1e-9)
    # the linearised dynamics: the training MSE's gradient is 2/n (f − y), each step moves f by η K that
    train, target = info["train_index"].numpy(), info["cube_target"].numpy()
    simulated = _simulated_descent(kernel, train, target, 0.05, 300)
    for i, (g, c) in enumerate(zip(_terms(), COEFFICIENTS)):
        assert found["fractions"][i] == pytest.approx(simulated @ g / 16 / c, rel=1e-8, abs=1e-12)
    assert found["descent_mse"] == pytest.approx(((simulated[-1] - target) ** 2).mean(), rel=1e-8)
    gram_top = np.linalg.eigvalsh(kernel[np.ix_(train, train)])[-1]
    assert found["stability"] == pytest.approx(2 * 0.05 * gram_top / 6, rel=1e-12)
    assert 0.1 < found["stability"] < 2 and found["fractions"][0][-1] == pytest.approx(found["limits"][0], abs=1e-3)  # near its t → ∞ limit


def test_the_elasticity_of_each_target_term_is_the_finite_difference_of_eigenlearnings_test_mse(monkeypatch):
    """Scaling the kernel's eigenvalue along one term χ_S by e^ε moves log(test MSE) by ε times that term's elasticity."""
    kernel, chi = walsh_diagonal_kernel(D, PER_DEGREE)
    found, info = _theory(monkeypatch, kernel, np.arange(0.0, 3.0))
    target = info["cube_target"].numpy()

    def log_mse(mask: int, eps: float) -> float:
        grown = kernel + np.expm1(eps) * PER_DEGREE[bin(mask).count("1")] * np.outer(chi[mask], chi[mask])
        lam, coef, _ = eigenlearning.domain_spectrum(grown, target)
        return np.log(eigenlearning.predict(lam, coef, n=6).test_mse)

    for mask, e in zip((0b1, 0b11, 0b111), found["elasticity"][-3:]):
        assert e == pytest.approx((log_mse(mask, 1e-5) - log_mse(mask, -1e-5)) / 2e-5, rel=1e-5, abs=1e-8)
    assert found["elasticity"].sum() == pytest.approx(0.0, abs=1e-10)  # scaling the whole kernel moves nothing at zero ridge


def test_each_terms_learnability_carries_the_other_terms_leak_when_the_kernel_mixes_them(monkeypatch):
    base, chi = walsh_diagonal_kernel(D, PER_DEGREE)
    mixed = chi[0b1] + chi[0b111]
    kernel = base + 0.5 * np.outer(mixed, mixed)  # not diagonal in the Walsh basis: χ_0 and χ_012 share an eigenfunction
    found, info = _theory(monkeypatch, kernel, np.arange(0.0, 3.0))
    lam, coef, phi = eigenlearning.domain_spectrum(kernel, info["cube_target"].numpy())
    pred = eigenlearning.predict(lam, coef, n=6)
    terms = _terms()
    leaked = [(phi @ (pred.learnabilities * coef)) @ g / 16 / c for g, c in zip(terms, COEFFICIENTS)]  # the mean learned function's coefficient on χ_S, over c_S
    alone = [eigenlearning.learnability_of(pred, phi, g) for g in terms]
    assert found["learnability"] == pytest.approx(leaked, rel=1e-9)
    assert max(abs(a - b) for a, b in zip(leaked, alone)) > 0.01  # the leak is there to see


def test_the_first_order_shift_leaves_out_modes_at_zero_before_or_after():
    from case_studies.kernel_limit.analysis import first_order_shift

    e = np.array([0.3, -0.2, 0.5, -0.6])
    before, after = np.array([1.0, 0.0, 2.0, 1.0]), np.array([2.0, 3.0, 0.0, 1.0])
    assert first_order_shift(e, before, after) == pytest.approx(0.3 * np.log(2.0), rel=1e-12)
    assert first_order_shift(e, after, before) == pytest.approx(-0.3 * np.log(2.0), rel=1e-12)


def _sweep_run(alpha: float, path: str, draw: int = 0) -> SimpleNamespace:
    """A finished run at output scale ``alpha``: every curve on steps 0, 5, 10, its last value set by ``alpha`` and the curve's index."""
    steps = np.array([0.0, 5.0, 10.0])
    ends = {("loss/train", ()): (1.0, 0.01 * alpha), ("walsh/cube_mse", ()): (1.25, 0.2 + 0.01 * alpha), ("kernel/distance", ()): (0.0, 0.1 / alpha),
            ("kernel/alignment", ()): (0.1, 0.1 + 0.4 / alpha), ("features/support_enrichment", ()): (0.9, 0.9 + 1.8 / alpha)}
    ends |= {("walsh/fraction", (("term", i),)): (0.0, 0.9 - 0.1 * i - 0.001 * alpha - 0.01 * draw) for i in range(3)}
    ends |= {("walsh/residual", (("degree", k),)): (1.0, 0.1 * (k + 1) / alpha) for k in range(D + 1)}
    curves = {key: (steps, np.array([first, 0.5 * (first + last) + 7.0, last])) for key, (first, last) in ends.items()}  # the middle point is off the line
    task = TASK if not draw else BooleanCubeConfig(d=D, subsets=SUBSETS, coefficients=COEFFICIENTS, n_train=6, draw=draw)
    run = _stand_in(curves, lr=0.05 / alpha**2, task=task)
    run.config.model.alpha, run.path = alpha, __import__("pathlib").Path(path)
    return run


def test_observe_reads_each_scale_and_each_term_from_its_own_curves_and_the_final_kernel(monkeypatch):
    import case_studies.kernel_limit.analysis as analysis
    import case_studies.kernel_limit.runs as runs_module

    kernel, chi = walsh_diagonal_kernel(D, PER_DEGREE)
    moved = kernel + 0.3 * np.outer(chi[0b111], chi[0b111])  # the final kernel grows along χ_012
    for module in (analysis, runs_module):
        monkeypatch.setattr(module, "initial_kernel", lambda run: kernel)
    monkeypatch.setattr(analysis, "cube_kernel", lambda run: moved * run.config.model.alpha)
    runs = {"alpha_0.1": _sweep_run(0.1, "out/runs/alpha_0.1"), "main": _sweep_run(10.0, "out"), "draw_1": _sweep_run(10.0, "out/runs/draw_1", draw=1)}
    obs = analysis.observe(runs)
    assert obs["sweep"]["alphas"].tolist() == [10.0, 0.1] and obs["paths"] == {"10": ".", "0.1": "runs/alpha_0.1"} and obs["size"] == 16
    lazy, rich = obs["sweep"]["rows"]
    assert rich["top_residual"] == pytest.approx(0.4 / 0.1) and lazy["top_residual"] == pytest.approx(0.4 / 10)  # degree 3, the target's top
    assert rich["alignment"] == pytest.approx((0.1, 4.1)) and rich["enrichment"] == pytest.approx((0.9, 18.9))  # first and last, not the middle
    assert rich["distance"] == pytest.approx(1.0) and rich["loss_ratio"] == pytest.approx(0.001) and rich["cube_mse"] == pytest.approx(0.201)
    assert rich["fractions"] == pytest.approx([0.8999, 0.7999, 0.6999])
    assert rich["modes"] == pytest.approx(0.1 * np.concatenate([PER_DEGREE, PER_DEGREE[1:3], [PER_DEGREE[3] + 0.3]]), rel=1e-9)
    for i in range(3):  # the lazy end's trajectory of each term
        assert obs["curves"][i][1][-1] == pytest.approx(0.9 - 0.1 * i - 0.01) and obs["curves"][i][0].tolist() == [0.0, 5.0, 10.0]
    assert obs["draws"]["draw"] == [0, 1] and obs["draws"]["fractions"][:, 2] == pytest.approx([0.69, 0.68])
    assert obs["kernel_sets"]["same"]["sets"] == 2 and obs["theory"]["n"] == 6


def test_the_cube_kernels_are_the_tangent_kernels_of_the_first_and_the_last_checkpoint(tmp_path):
    from bridge import RunConfig, ScheduleConfig, TrainConfig, train
    from bridge.estimators.ntk import empirical_ntk
    from bridge.models import LazyConfig, MLPConfig, build_model
    from bridge.tasks.boolean_cube import cube_points
    from case_studies.kernel_limit.runs import cube_kernel, initial_kernel

    model = LazyConfig(MLPConfig(d_in=D, d_out=1, widths=(8,)), alpha=0.5)
    config = RunConfig(task=TASK, model=model, train=TrainConfig(optimizer="gd", lr=0.5, steps=20, schedule=ScheduleConfig(n_log=0, every=10), dtype="float64"), seed=0)
    run = train(config, tmp_path / "run", progress=False)
    assert run.steps == [0, 10, 20]
    x = cube_points(D).double()
    start, end = empirical_ntk(build_model(model, seed=0).double(), x).numpy(), empirical_ntk(run.model_at(20), x).numpy()
    np.testing.assert_allclose(initial_kernel(run), start, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cube_kernel(run), end, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cube_kernel(run, 10), empirical_ntk(run.model_at(10), x).numpy(), rtol=1e-10, atol=1e-12)
    assert np.abs(end - start).max() > 1e-3 * np.abs(start).max()  # at α = 0.5 the kernel moves


def test_a_degree_whose_every_walsh_function_is_a_target_term_keeps_its_eigenvalue_with_multiplicity_zero():
    from case_studies.kernel_limit.analysis import target_modes

    kernel, chi = walsh_diagonal_kernel(2, [3.0, 1.0, 0.25])
    lam, mult = target_modes(kernel, [chi[0b11], chi[0b01]], [(0, 1), (0,)])  # degree 2 is χ_01 alone
    assert mult.tolist() == [1, 1, 0, 1, 1]
    assert lam == pytest.approx([3.0, 1.0, 0.25, 0.25, 1.0], rel=1e-12)
