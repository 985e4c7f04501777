"""What stacking seeds takes (bridge.training.stacking): seeds that can be stacked, seed-dependent buffers,
optimizer state moved between per-seed and stacked form, and the memory layout of stacked parameters."""

import pytest
import torch

from bridge import ConfigError, RunError
from bridge.training.stacking import _seed_optimizer_state, _stack_optimizer_state


def test_seed_dependent_buffers_are_stacked_and_mismatched_buffers_and_losses_refused():
    from torch import nn

    from bridge.tasks.sparse_features import ImportanceWeightedMSE
    from bridge.training.stacking import _check_buffers, _same, _seed_buffers

    a, b, c = nn.Module(), nn.Module(), nn.Module()
    for m, mask in ((a, torch.zeros(2)), (b, torch.ones(2)), (c, torch.zeros(3))):
        m.register_buffer("mask", mask)
        m.register_buffer("scale", torch.full((1,), 2.0))
    _check_buffers([a, b])
    assert _seed_buffers([a, a]) == {}  # the same in every seed: shared, not stacked
    stacked = _seed_buffers([a, b, a])
    assert list(stacked) == ["mask"] and torch.equal(stacked["mask"], torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]]))
    with pytest.raises(ConfigError, match="buffers of different names or shapes"):
        _check_buffers([a, c])
    assert _same(ImportanceWeightedMSE(torch.ones(3)), ImportanceWeightedMSE(torch.ones(3)))
    assert not _same(ImportanceWeightedMSE(torch.ones(3)), ImportanceWeightedMSE(torch.arange(3.0)))
    assert _same("mse", "mse") and not _same("mse", "half_sse")


def test_stacked_parameters_take_the_layout_their_gradients_arrive_in_with_the_same_values():
    """A batched ``h @ W.mT`` gives ``W``'s gradient transposed; a parameter laid out the same accumulates it without a copy."""
    from bridge.training.stacking import _laid_out_as_gradients

    gen = torch.Generator().manual_seed(0)
    w, b = torch.randn(4, 7, 5, generator=gen).requires_grad_(), torch.randn(4, 7, generator=gen).requires_grad_()
    x = torch.randn(4, 9, 5, generator=gen)

    def losses(p):
        return ((x @ p["w"].mT + p["b"][:, None]) ** 2).mean((1, 2))

    out = _laid_out_as_gradients({"w": w, "b": b}, losses)
    assert torch.equal(out["w"], w) and out["w"].stride() == (35, 1, 7) and w.stride() == (35, 5, 1)
    assert out["b"] is b and w.grad is None and b.grad is None  # already laid out as its gradient; nothing stepped or kept
    arrived = []
    out["w"].register_hook(lambda grad: arrived.append(grad.stride()))
    losses(out).sum().backward()
    assert arrived == [out["w"].grad.stride()] == [(35, 1, 7)]
    torch.testing.assert_close(out["w"].grad, torch.func.grad(lambda v: losses({"w": v, "b": b}).sum())(w.detach()), rtol=0, atol=0)


def test_stacked_optimizer_states_take_each_seeds_moments_and_share_its_step_count():
    models = [torch.nn.Linear(3, 2) for _ in range(3)]
    optimizers = [torch.optim.Adam(m.parameters(), lr=0.1) for m in models]
    for k, (m, o) in enumerate(zip(models, optimizers)):
        for _ in range(2):
            o.zero_grad()
            (m(torch.full((4, 3), float(k + 1))) ** 2).sum().backward()
            o.step()
    stacked = _stack_optimizer_state(optimizers)
    weight = stacked["state"][0]
    assert weight["exp_avg"].shape == (3, 2, 3) and float(weight["step"]) == 2.0
    for k, o in enumerate(optimizers):
        torch.testing.assert_close(weight["exp_avg"][k], o.state_dict()["state"][0]["exp_avg"], rtol=0, atol=0)
        back = _seed_optimizer_state(stacked, k)["state"]
        for i in (0, 1):
            for key in ("exp_avg", "exp_avg_sq", "step"):
                torch.testing.assert_close(back[i][key], o.state_dict()["state"][i][key], rtol=0, atol=0)
    optimizers[1].step()  # one seed a step ahead: its step count differs
    with pytest.raises(RunError, match="cannot resume the sweep: the seeds' optimizer 'step' differ"):
        _stack_optimizer_state(optimizers)


def test_seeds_whose_data_shapes_or_losses_differ_are_not_stacked():
    from bridge.tasks import Split, TaskData
    from bridge.training.stacking import _check_stackable

    def data(n=8, d_x=3, d_y=2, loss="mse"):
        return TaskData(Split(torch.zeros(n, d_x), torch.zeros(n, d_y)), None, loss, {})

    _check_stackable([data(), data(), data()])
    for other, message in ((data(n=9), "same shapes"), (data(d_x=4), "same shapes"), (data(d_y=1), "same shapes"), (data(loss="cross_entropy"), "same loss")):
        with pytest.raises(ConfigError, match=rf"train_seeds needs every seed.* {message}"):
            _check_stackable([data(), other])
