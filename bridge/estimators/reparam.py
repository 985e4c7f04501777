"""Call a model with other parameter tensors, safely for every model of the library.

``torch.func.functional_call`` swaps tensors by ``setattr`` along dotted
paths. A ``TransformerBridge`` intercepts attribute access on its wrapped
components and reaches one parameter through several paths, and after a
``functional_call`` its parameters are left replaced (measured on
transformer-lens 4.3). :func:`swapped_parameters` writes straight into each
owning module's ``_parameters`` slot, at every alias, and restores the
originals in ``finally``; it works under ``torch.func.vmap`` and ``grad``.

Examples:
    >>> import torch
    >>> net = torch.nn.Linear(2, 1, bias=False)
    >>> slots = ParameterSlots(net)
    >>> with slots.swapped({"weight": torch.ones(1, 2)}):
    ...     float(net(torch.ones(1, 2)))
    2.0
    >>> bool(net.weight.requires_grad)   # restored
    True
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import Tensor, nn


class ParameterSlots:
    """Every (module, attribute) slot that holds each parameter of ``model``.

    Attributes:
        names: canonical parameter names (``model.named_parameters()`` order).
        aliases: canonical name → every name that reaches the same tensor
            (other module paths, ``state_dict`` keys).
        buffer_names: the model's buffers (``named_buffers()`` order), which
            :meth:`swapped` can replace too.

    Examples:
        >>> lin = torch.nn.Linear(2, 2)
        >>> slots = ParameterSlots(torch.nn.Sequential(lin, lin))  # one layer reached by two paths
        >>> slots.names, sorted(slots.aliases["0.weight"])
        (['0.weight', '0.bias'], ['0.weight', '1.weight'])
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        canonical = {id(p): n for n, p in model.named_parameters()}
        self.names: list[str] = list(canonical.values())
        self._slots = _slot_table(model, "_parameters", canonical)
        self.aliases: dict[str, set[str]] = {n: {n} for n in self.names}
        for n, p in model.named_parameters(remove_duplicate=False):
            self.aliases[canonical[id(p)]].add(n)
        buffers = {id(b): n for n, b in model.named_buffers()}
        self.buffer_names: list[str] = list(buffers.values())
        self._buffer_slots = _slot_table(model, "_buffers", buffers)
        by_ptr = {p.data_ptr(): n for n, p in model.named_parameters()}
        for key, value in model.state_dict(keep_vars=True).items():
            if isinstance(value, nn.Parameter) and id(value) in canonical:
                self.aliases[canonical[id(value)]].add(key)
            elif isinstance(value, Tensor) and value.data_ptr() in by_ptr and value.numel() > 0:
                self.aliases[by_ptr[value.data_ptr()]].add(key)

    def parameters(self) -> dict[str, Tensor]:
        """Canonical name → the model's current parameter tensor."""
        return dict(self.model.named_parameters())

    @contextmanager
    def swapped(self, tensors: Mapping[str, Tensor], buffers: Mapping[str, Tensor] | None = None) -> Iterator[nn.Module]:
        """Inside the block, the model computes with ``tensors`` (canonical names) in place of its parameters,
        and with ``buffers`` (``named_buffers`` names) in place of those buffers."""
        buffers = buffers or {}
        unknown = set(tensors) - set(self._slots)
        if unknown:
            raise ValueError(f"not parameters of the model: {sorted(unknown)[:5]}")
        if set(buffers) - set(self._buffer_slots):
            raise ValueError(f"not buffers of the model: {sorted(set(buffers) - set(self._buffer_slots))[:5]}")
        saved: list[tuple[dict, str, Tensor]] = []
        try:
            for table, slots, given in (("_parameters", self._slots, tensors), ("_buffers", self._buffer_slots, buffers)):
                for name, tensor in given.items():
                    for mod, leaf in slots[name]:
                        store = getattr(mod, table)
                        saved.append((store, leaf, store[leaf]))
                        store[leaf] = tensor
            yield self.model
        finally:
            for store, leaf, old in reversed(saved):
                store[leaf] = old


def _slot_table(model: nn.Module, table: str, names: Mapping[int, str]) -> dict[str, list[tuple[nn.Module, str]]]:
    """Canonical name → every ``(module, key)`` of the module's ``table`` (``_parameters`` or
    ``_buffers``) holding that tensor; ``names`` maps each tensor's ``id`` to its canonical name."""
    slots: dict[str, list[tuple[nn.Module, str]]] = {n: [] for n in names.values()}
    for _, mod in model.named_modules(remove_duplicate=False):
        for leaf, tensor in getattr(mod, table).items():
            if tensor is not None and id(tensor) in names:
                found = slots[names[id(tensor)]]
                if not any(m is mod and lf == leaf for m, lf in found):
                    found.append((mod, leaf))
    return slots


def require_finite(name: str, values: Tensor) -> None:
    """Raise a ``ValueError`` naming ``name`` and its first NaN or infinite entry, if it has one.

    Examples:
        >>> require_finite("kernel", torch.tensor([[1.0, float("inf")]]))
        Traceback (most recent call last):
        ...
        ValueError: kernel must be finite, got kernel[0, 1] = inf
    """
    bad = ~torch.isfinite(values)
    if bad.any():
        at = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(f"{name} must be finite, got {name}[{', '.join(map(str, at))}] = {values[at].item()}")


def model_input(name: str, x: Tensor, model: nn.Module) -> Tensor:
    """A batch ``x`` ``(n, ...)`` as the model computes with it: on its device, floating-point inputs in the dtype of
    its floating-point parameters (integer inputs such as token ids as they are), as the library's training does.

    Raises:
        ValueError: ``x`` is not a tensor with at least one example, or has a NaN or infinite entry (named).

    Examples:
        >>> model_input("x", torch.ones(2, 3, dtype=torch.float64), nn.Linear(3, 1)).dtype
        torch.float32
        >>> model_input("x", torch.tensor([[1.0, float("nan")]]), nn.Linear(2, 1))
        Traceback (most recent call last):
        ...
        ValueError: x must be finite, got x[0, 1] = nan
    """
    if not isinstance(x, Tensor) or x.ndim < 1 or x.shape[0] == 0:
        got = f"shape {tuple(x.shape)}" if isinstance(x, Tensor) else f"a {type(x).__name__}"
        raise ValueError(f"{name} must hold at least one example, got {got}")
    if x.is_floating_point() or x.is_complex():
        require_finite(name, x)
    params = [p for p in model.parameters() if p.is_floating_point()]
    if not params:
        return x
    return x.to(device=params[0].device, dtype=params[0].dtype if x.is_floating_point() else x.dtype)


def name_prefixes(params: object) -> list[str]:
    """The name prefixes of a ``params`` selection given as one string or a sequence of strings.

    Raises:
        ValueError: an empty string (a prefix of every name, so it silently selected every parameter), an entry that
            is not a string (a parameter tensor, an index) or a value that is no sequence, naming ``params``.

    Examples:
        >>> name_prefixes("blocks.0"), name_prefixes(("0.", "2."))
        (['blocks.0'], ['0.', '2.'])
        >>> name_prefixes([""])
        Traceback (most recent call last):
        ...
        ValueError: params must be non-empty parameter names or name prefixes, or a predicate on names, got ['']
    """
    hint = "params must be non-empty parameter names or name prefixes, or a predicate on names"
    try:
        prefixes = [params] if isinstance(params, str) else list(params)  # type: ignore[call-overload]
    except TypeError:
        raise ValueError(f"{hint}, got {params!r}") from None
    for p in prefixes:
        if not isinstance(p, str):
            raise ValueError(f"{hint}, got an entry of type {type(p).__name__}")
        if not p:
            raise ValueError(f"{hint}, got {params!r}")
    return prefixes


def scalar_loss(value: Tensor, caller: str = "") -> Tensor:
    """A loss as a 0-d tensor: one number in any shape (``(1,)``, ``(1, 1)``) is taken, more are refused by name.

    Examples:
        >>> scalar_loss(torch.ones(1, 1)).shape
        torch.Size([])
        >>> scalar_loss(torch.ones(2), "hessian_operator: ")
        Traceback (most recent call last):
        ...
        ValueError: hessian_operator: loss_fn must return one number, got shape (2,)
    """
    if not isinstance(value, Tensor) or value.numel() != 1:
        got = f"shape {tuple(value.shape)}" if isinstance(value, Tensor) else f"a {type(value).__name__}"
        raise ValueError(f"{caller}loss_fn must return one number, got {got}")
    return value.reshape(())


def trainable_tensors(model: nn.Module, params: object, caller: str = "") -> list[Tensor]:
    """``params`` checked as distinct parameter tensors of ``model`` that require grad (``None``: all such, in
    ``model.parameters()`` order); anything else is refused with its position, before any forward pass.

    Examples:
        >>> net = nn.Linear(2, 1)
        >>> [tuple(p.shape) for p in trainable_tensors(net, None)]
        [(1, 2), (1,)]
        >>> trainable_tensors(net, [net.bias, net.bias])
        Traceback (most recent call last):
        ...
        ValueError: params[1] repeats a parameter given before
    """
    if params is None:
        every: list[Tensor] = [p for p in model.parameters() if p.requires_grad]
        if not every:
            raise ValueError(f"{caller}the model has no parameter that requires grad; pass `params` to choose some")
        return every
    if isinstance(params, (str, Tensor)) or not hasattr(params, "__iter__"):
        raise ValueError(f"{caller}params must be a sequence of the model's parameter tensors, got a {type(params).__name__}")
    given: list[object] = list(params)
    if not given:
        raise ValueError(f"{caller}params is empty: pass None for every parameter that requires grad, or some of them")
    own, seen = {id(p) for p in model.parameters()}, set()
    chosen: list[Tensor] = []
    for i, p in enumerate(given):
        if not isinstance(p, Tensor):
            raise ValueError(f"{caller}params[{i}] is a {type(p).__name__}, not a parameter of the model")
        if id(p) not in own:
            raise ValueError(f"{caller}params[{i}] is a tensor of shape {tuple(p.shape)} that is not a parameter of the model")
        if id(p) in seen:
            raise ValueError(f"{caller}params[{i}] repeats a parameter given before")
        if not p.requires_grad:
            raise ValueError(f"{caller}params[{i}] (shape {tuple(p.shape)}) does not require grad; it cannot be differentiated")
        seen.add(id(p))
        chosen.append(p)
    return chosen


__all__ = ["ParameterSlots", "model_input", "name_prefixes", "require_finite", "scalar_loss", "trainable_tensors"]
