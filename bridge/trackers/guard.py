"""What a tracker must leave as it found it, checked around every call a run makes.

:class:`Snapshot` records a model's parameters (the objects, their ``requires_grad`` and
values), buffers, each module's train/eval flag and hooks, and torch's global state (random
generators, grad mode, default dtype); :meth:`Snapshot.model_change` and
:meth:`Snapshot.global_change` describe the first thing a call changed. :func:`guarded`
runs one call of a tracker inside a run: it puts the global random generators back (a
tracker drawing from them would change the dropout masks training draws next) and raises,
naming the tracker, when the call changed the model or the grad mode or default dtype.
:func:`bridge.trackers.check_tracker` uses the same snapshot to name the rule broken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from bridge.models.base import _modules

_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
_LIBRARY_HOOKS = ("torch.", "transformers.", "transformer_lens.", "accelerate.")  # modules whose hooks are the model's own machinery
_GLOBAL_HOOKS = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks", "_global_backward_pre_hooks")


class TrackerError(ValueError):
    """A tracker changed the model or torch's global state during a run (raised before its rows are kept); a
    ``ValueError``, as rows a run cannot keep are: the command line reports either in one line.

    Examples:
        >>> net = torch.nn.Linear(2, 1)
        >>> try:
        ...     guarded("sloppy", "the call at step 2", net, lambda: net.eval())
        ... except TrackerError as e:
        ...     print(isinstance(e, ValueError), str(e)[:60])
        True tracker 'sloppy' broke the tracker contract: the call at ste
    """


def _named_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    named = {id(m): name for name, m in model.named_modules()}
    return [(named.get(id(m), f"{type(m).__name__} (outside named_modules)"), m) for m in _modules(model)]


def _hooks(modules: list[tuple[str, nn.Module]], params: dict[str, nn.Parameter]) -> dict[tuple[str, str], tuple]:
    """The hooks attached: by (where, kind), the hook handles' ids (module, parameter and global hooks).

    Hooks defined by the model libraries themselves are left out (:data:`_LIBRARY_HOOKS`): a
    TransformerBridge wires capture hooks into its blocks on first use, a ``transformers`` model
    its output-capturing hooks on the first call asking for attentions (once, whoever runs it first)."""
    def own(hooks: Any) -> tuple:
        return tuple(k for k, fn in (hooks or {}).items() if not str(getattr(fn, "__module__", "")).startswith(_LIBRARY_HOOKS))

    found = {(name or "the model", kind): own(getattr(m, kind, None)) for name, m in modules for kind in _HOOKS}
    found |= {(f"the parameter {name!r}", "tensor hooks"): own(p._backward_hooks) for name, p in params.items()}
    found |= {("every module", kind): own(getattr(nn.modules.module, kind, None)) for kind in _GLOBAL_HOOKS}
    return {k: v for k, v in found.items() if v}


class Snapshot:
    """What a tracker must leave as it found it: the model's state and torch's global state.

    Examples:
        >>> net = torch.nn.Linear(2, 1)
        >>> before = Snapshot(net)
        >>> _ = net.eval()
        >>> before.model_change(net)
        'left the model in eval mode (it was in train mode): use bridge.trackers.evaluating'
    """

    def __init__(self, model: nn.Module | None) -> None:
        self.rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        self.dtype = torch.get_default_dtype()
        self.grad = torch.is_grad_enabled()
        if model is None:  # torch's global state only
            return
        self.params = dict(model.named_parameters())
        self.requires_grad = {name: p.requires_grad for name, p in self.params.items()}
        # values by fingerprints (a sum and a norm a tensor: no copy of a wide layer, and an exact restore passes); the
        # small buffers also as values, to say where one changed
        self.buffers = {k: v.detach().clone() for k, v in model.named_buffers()}
        self.prints = _fingerprints(list(self.params.values()))  # buffers: by their version counters in the signature
        self.modules = _named_modules(model)
        self.flags = [m.training for _, m in self.modules]
        self.hooks = _hooks(self.modules, self.params)
        self.signature = _signature(model)

    def model_change(self, model: nn.Module) -> str | None:
        """What the call changed in ``model`` (described, the first found), or ``None``."""
        if _signature(model) == self.signature and _same(_fingerprints(list(self.params.values())), self.prints):
            return None  # the same modules, parameters, flags, hooks and values: one pass, no description needed
        params = dict(model.named_parameters())
        if params.keys() != self.params.keys() or any(params[k] is not p for k, p in self.params.items()):
            changed = next((k for k in {*params, *self.params} if params.get(k) is not self.params.get(k)), None)
            return f"replaced the parameter {changed!r} (an optimizer holds the parameter objects)"
        flipped = next((k for k, p in params.items() if p.requires_grad != self.requires_grad[k]), None)
        if flipped is not None:
            return f"set requires_grad of {flipped!r} to {params[flipped].requires_grad}"
        moved = next(((name or "the model", was, m.training) for was, (name, m) in zip(self.flags, self.modules) if was != m.training), None)
        if moved is not None:
            return f"left {moved[0]} in {'train' if moved[2] else 'eval'} mode (it was in {'train' if moved[1] else 'eval'} mode): use bridge.trackers.evaluating"
        hooks = _hooks(self.modules, params)
        added = next((k for k in hooks if set(hooks[k]) - set(self.hooks.get(k, ()))), None)
        if added is not None:
            return f"left a hook attached ({added[1].strip('_')} of {added[0]}): remove it before returning (handle.remove())"
        now = _fingerprints(list(params.values()))  # the parameters of the snapshot, in its order (checked above)
        for (key, was), is_ in zip(zip(params, self.prints), now):
            if not _same(is_, was):
                (s0, q0), (s1, q1) = was.tolist(), is_.tolist()
                return f"changed {key!r} in place (its sum {s0!r} before, {s1!r} after; its norm {q0!r}, {q1!r})"
        state = dict(model.named_buffers())
        for key, before in self.buffers.items():
            after = state.get(key)
            if after is None or after.shape != before.shape or after.dtype != before.dtype:
                return f"changed {key!r} from {before.dtype} {tuple(before.shape)} to {'nothing' if after is None else f'{after.dtype} {tuple(after.shape)}'}"
            differs = (before != after) & ~(before.isnan() & after.isnan()) if before.is_floating_point() else before != after
            if differs.any():
                at = tuple(int(i) for i in differs.nonzero()[0])
                return f"changed {key!r} at {at}: {before[at].item()!r} before, {after[at].item()!r} after"
        return None

    def rng_change(self) -> str | None:
        """How the call drew from torch's global random generators, or ``None``."""
        if not torch.equal(torch.get_rng_state(), self.rng):
            return "drew from torch's global random generator (torch.get_rng_state() changed): draw from a torch.Generator of its own"
        if self.cuda_rng is not None and any(not torch.equal(a, b) for a, b in zip(torch.cuda.get_rng_state_all(), self.cuda_rng)):
            return "drew from torch's global CUDA random generator: draw from a torch.Generator of its own"
        return None

    def restore_rng(self) -> None:
        """Put torch's global random generators back as they were."""
        torch.set_rng_state(self.rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)

    def global_change(self, grad_enabled: bool | None = None) -> str | None:
        """What the call changed in torch's global state; ``grad_enabled``: the grad mode it must leave (default: as found)."""
        if found := self.rng_change():
            return found
        if torch.is_grad_enabled() != (self.grad if grad_enabled is None else grad_enabled):
            return f"left autograd {'on (torch.set_grad_enabled(True))' if torch.is_grad_enabled() else 'off (torch.set_grad_enabled(False))'}: use torch.no_grad() as a `with` block"
        if torch.get_default_dtype() != self.dtype:
            return f"changed the default dtype from {self.dtype} to {torch.get_default_dtype()}"
        return None


def _fingerprints(tensors: list[torch.Tensor]) -> torch.Tensor:
    """``(n, 2)``: each tensor's sum and 2-norm in float64 (on the CPU; a wide layer is read, not copied): equal before
    and after a call that wrote nothing or put back what it wrote, also through ``.data`` (which no version counter sees)."""
    if not tensors:
        return torch.zeros(0, 2, dtype=torch.float64)
    with torch.no_grad():
        rows = [torch.stack((t.sum(), torch.linalg.vector_norm(t))) if t.is_floating_point() or t.is_complex() else _integer_print(t) for t in (x.detach() for x in tensors)]
        return torch.stack([r.to("cpu", torch.float64).real for r in rows])


def _integer_print(t: torch.Tensor) -> torch.Tensor:
    """An integer or boolean tensor's sum and sum of squares (counters and masks, small), in float64."""
    x = t.to(torch.float64)
    return torch.stack((x.sum(), (x * x).sum()))


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """``a`` and ``b`` equal, NaN matching NaN."""
    return bool(((a == b) | (a.isnan() & b.isnan())).all())


def _signature(model: nn.Module) -> tuple:
    """What a call may change but values, in one pass: each module, its flag and number of hooks, its parameters
    (objects, ``requires_grad``, tensor hooks) and buffers (objects and version counters), and the global hooks."""
    sig: list = [tuple(len(getattr(nn.modules.module, k, None) or ()) for k in _GLOBAL_HOOKS)]
    for m in _modules(model):
        params = tuple((id(p), p.requires_grad, len(p._backward_hooks or ())) if p is not None else None for p in m._parameters.values())
        buffers = tuple((id(b), b._version) if b is not None else None for b in m._buffers.values())
        sig.append((id(m), m.training, *(len(getattr(m, k, None) or ()) for k in _HOOKS), params, buffers))
    return tuple(sig)


def guarded(name: Any, what: str, model: nn.Module | None, fn: Callable[[], Any], before: Snapshot | None = None) -> Any:
    """``fn()``, one call of the tracker ``name`` on ``model`` (``None``: a call given no model) in a run;
    torch's global random generators are put back afterwards, and a change to the model, the grad mode
    or the default dtype raises.

    Raises:
        TrackerError: naming the tracker, the call (``what``) and what it changed.

    Examples:
        >>> net = torch.nn.Linear(2, 1)
        >>> guarded("noisy", "the call at step 0", net, lambda: float(torch.rand(())) >= 0)  # draws, and is put back
        True
        >>> guarded("frozen", "the call at step 3", net, lambda: net.weight.requires_grad_(False))
        Traceback (most recent call last):
        ...
        bridge.trackers.guard.TrackerError: tracker 'frozen' broke the tracker contract: the call at step 3 set requires_grad of 'weight' to False; ...
    """
    before = Snapshot(model) if before is None else before  # given: one taken before the calls of one step, each of which leaves things as found
    try:
        out = fn()
    finally:
        before.restore_rng()
    found = before.global_change() or (before.model_change(model) if model is not None else None)
    if found:
        raise TrackerError(f"tracker {name!r} broke the tracker contract: {what} {found}; a tracker leaves the model it measures as it found it")
    return out
