"""The random numbers a model draws in its forward pass (dropout, noise): a function of the run's seed and the step.

A model of one's own may draw from torch's global generators while it trains (``nn.Dropout``,
``torch.randn_like`` in ``forward``). :func:`bridge.train` seeds them before every step with
:func:`forward_seed` of the run's seed and the step (:func:`seed_forward`), inside
:func:`global_rng_kept`, so a run draws the same numbers every time it is trained, a killed run
resumed draws what the uninterrupted one drew (nothing extra is stored), and the caller's
generators are as they were once it returns. Library models draw nothing in their forward pass.

:func:`bridge.train_seeds` cannot give each stacked seed these draws (vmap draws one tensor for all
seeds), so it refuses such a model before any work (:func:`refuse_random_forward`).

Examples:
    >>> with global_rng_kept(torch.device("cpu")):
    ...     seed_forward(0, 5, [torch.default_generator]); a = torch.rand(2)
    ...     seed_forward(0, 5, [torch.default_generator]); b = torch.rand(2)
    >>> torch.equal(a, b)
    True
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from bridge.config import ConfigError
from bridge.seeding import derive_seed


def forward_seed(seed: int, step: int) -> int:
    """The seed of torch's global generators for the forward pass of ``step`` in a run of ``seed``.

    Examples:
        >>> forward_seed(0, 3) == forward_seed(0, 3) != forward_seed(0, 4) != forward_seed(1, 3)
        True
    """
    return derive_seed(seed, "forward", step)


def step_generators(dev: torch.device) -> list[torch.Generator]:
    """The global generators a forward pass on ``dev`` draws from: the CPU's, and that of the CUDA device in use.

    Examples:
        >>> step_generators(torch.device("cpu")) == [torch.default_generator]
        True
    """
    if dev.type != "cuda":
        return [torch.default_generator]
    return [torch.default_generator, torch.cuda.default_generators[_cuda_index(dev)]]


def seed_forward(seed: int, step: int, generators: Sequence[torch.Generator]) -> None:
    """Seed ``generators`` (:func:`step_generators`) for the forward pass of ``step``: what a model draws there
    depends on the run's seed and the step only (about 2 µs a step).

    Examples:
        >>> with global_rng_kept(torch.device("cpu")):
        ...     seed_forward(7, 0, [torch.default_generator]); torch.default_generator.initial_seed() == forward_seed(7, 0)
        True
    """
    s = forward_seed(seed, step)
    for g in generators:
        g.manual_seed(s)


@contextmanager
def global_rng_kept(dev: torch.device) -> Iterator[None]:
    """Put torch's global generators (the CPU's, and that of the CUDA device ``dev`` when it is one) back as they were after the block.

    Examples:
        >>> before = torch.get_rng_state()
        >>> with global_rng_kept(torch.device("cpu")):
        ...     _ = torch.rand(3)
        >>> torch.equal(before, torch.get_rng_state())
        True
    """
    devices = [_cuda_index(dev)] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type="cuda"):
        yield


def _cuda_index(dev: torch.device) -> int:
    return dev.index if dev.index is not None else torch.cuda.current_device()


def random_draw(model: nn.Module, x: Tensor) -> str | None:
    """Where a forward pass of ``model`` (in its own train/eval mode) on ``x`` draws from torch's global generator:
    the innermost module that drew, as ``"Dropout at 'drop'"`` (``"DropMLP at the model itself"`` for its own
    ``forward``), or ``None``. The global generator is put back; buffers a forward updates are ``model``'s to lose
    (pass a copy).

    Examples:
        >>> net = nn.Sequential(nn.Linear(2, 4), nn.Dropout(0.5), nn.Linear(4, 1))
        >>> random_draw(net, torch.ones(3, 2)), random_draw(net.eval(), torch.ones(3, 2))
        ("Dropout at '1'", None)
    """
    found: list[str] = []
    before: dict[int, Tensor] = {}
    handles = []
    for name, module in model.named_modules():
        where = f"{type(module).__name__} at {repr(name) if name else 'the model itself'}"
        handles.append(module.register_forward_pre_hook(lambda m, args: before.__setitem__(id(m), torch.get_rng_state())))
        handles.append(module.register_forward_hook(lambda m, args, out, where=where: found.append(where) if not torch.equal(before[id(m)], torch.get_rng_state()) else None))
    try:
        with global_rng_kept(torch.device("cpu")), torch.no_grad():
            start = torch.get_rng_state()
            model(x)
            drew = not torch.equal(start, torch.get_rng_state())
    finally:
        for handle in handles:
            handle.remove()
    return found[0] if found else (f"{type(model).__name__} at the model itself" if drew else None)  # hooks report the innermost module first


def refuse_random_forward(model: nn.Module, x: Tensor) -> None:
    """Raise a :class:`~bridge.config.ConfigError` naming the module when a forward pass of ``model`` on ``x`` draws random numbers:
    :func:`bridge.train_seeds` cannot give each stacked seed the numbers :func:`bridge.train` draws for it.

    Examples:
        >>> refuse_random_forward(nn.Sequential(nn.Linear(2, 1), nn.Dropout(0.5)), torch.ones(3, 2))
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: train_seeds cannot stack a model that draws random numbers in its forward pass (Dropout at '1'): ...
    """
    where = random_draw(model, x)
    if where is not None:
        raise ConfigError(f"train_seeds cannot stack a model that draws random numbers in its forward pass ({where}): the stacked seeds would share one stream of draws, not each its own; train each seed with bridge.train, which draws them from the run's seed and the step")
