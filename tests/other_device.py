"""A second device simulated on the CPU, for tests that code keeps every tensor on its model's device.

Tensors "on" :data:`OTHER` (torch's ``lazy`` device type, which this CPU build accepts as a name) are wrappers
around CPU tensors: every operation computes on the CPU, so results match a CPU run exactly, but an operation that
mixes them with a CPU tensor of one or more dimensions raises "Expected all tensors to be on the same device", as a
CUDA tensor meeting a CPU tensor does, and so does a CPU generator used to draw on :data:`OTHER`. ``.numpy()`` of
such a tensor fails, as of a CUDA tensor. The context also counts reads back to the host (``.item()``, ``float()``,
``.cpu()``, a copy into a CPU tensor): each one is a synchronisation on a real GPU.

Examples:
    >>> with other_device() as dev:
    ...     w = torch.ones(2, 3).to(dev)
    ...     (w @ torch.ones(3, device=dev)).tolist()
    [3.0, 3.0]
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

OTHER = torch.device("lazy")
aten = torch.ops.aten
MIXING = {aten.copy_.default, aten._to_copy.default, aten.index.Tensor, aten.index_put_.default, aten.index_put.default, aten._index_put_impl_.default}
"""Operations a CUDA tensor may share with CPU tensors: copies between devices and indexing by CPU indices."""


class Reads:
    """How many times values were read back from :data:`OTHER` to the host."""

    count = 0


def _on_other(device) -> bool:
    return device is not None and torch.device(device) == OTHER


class Other(torch.Tensor):
    """A CPU tensor ``inner`` that says it lives on :data:`OTHER`."""

    __torch_function__ = torch._C._disabled_torch_function_impl

    @staticmethod
    def __new__(cls, inner: torch.Tensor):
        return torch.Tensor._make_wrapper_subclass(cls, inner.shape, strides=inner.stride(), storage_offset=inner.storage_offset(), dtype=inner.dtype, device=OTHER, requires_grad=inner.requires_grad)

    def __init__(self, inner: torch.Tensor):
        self.inner = inner

    def untyped_storage(self):
        return self.inner.untyped_storage()

    def data_ptr(self) -> int:
        return self.inner.data_ptr()

    def tolist(self):
        Reads.count += 1
        return self.inner.tolist()

    def __repr__(self) -> str:
        return f"Other({self.inner!r})"

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        flat, _ = tree_flatten((args, kwargs))
        cpu = [tuple(t.shape) for t in flat if type(t) is torch.Tensor and t.dim() > 0]
        if cpu and func not in MIXING:
            raise RuntimeError(f"Expected all tensors to be on the same device, but {func} got CPU tensors of shapes {cpu} with tensors on {OTHER}")
        if any(isinstance(g, torch.Generator) and g.device.type == "cpu" for g in flat):
            raise RuntimeError(f"Expected a '{OTHER.type}' device type for generator but found 'cpu' ({func})")
        to_host = func is aten._to_copy.default and kwargs.get("device") is not None and torch.device(kwargs["device"]).type == "cpu"
        if func is aten._local_scalar_dense.default or to_host or (func is aten.copy_.default and type(args[0]) is torch.Tensor):
            Reads.count += 1
        inner_args, inner_kwargs = tree_map(lambda t: t.inner if isinstance(t, Other) else t, (args, kwargs))
        out = func(*inner_args, **inner_kwargs)
        if to_host or (func is aten.copy_.default and type(args[0]) is torch.Tensor):
            return out
        return tree_map(lambda t: Other(t) if type(t) is torch.Tensor else t, out)


class _Factories(TorchDispatchMode):
    """Tensors made with ``device=OTHER`` (and no tensor argument) are made on the CPU and wrapped."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        flat, _ = tree_flatten(args)
        if _on_other(kwargs.get("device")) and not any(isinstance(a, Other) for a in flat):
            if any(isinstance(g, torch.Generator) and g.device.type == "cpu" for g in tree_flatten(kwargs)[0]):
                raise RuntimeError(f"Expected a '{OTHER.type}' device type for generator but found 'cpu' ({func})")
            return Other(func(*args, **{**kwargs, "device": torch.device("cpu")}))
        return func(*args, **kwargs)


# Tensors C++ makes on a device without the Python dispatch (index lists, torch.tensor(data, device=...)) reach the
# device's own kernels: these three make them on the CPU and wrap them.
_LIBRARY = torch.library.Library("aten", "IMPL")
_LIBRARY.impl("empty.memory_format", lambda size, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None: Other(torch.empty(size, dtype=dtype, layout=layout, memory_format=memory_format)), "Lazy")
_LIBRARY.impl("empty_strided", lambda size, stride, dtype=None, layout=None, device=None, pin_memory=None: Other(torch.empty_strided(size, stride, dtype=dtype, layout=layout)), "Lazy")


def _copy_from(self, dst, non_blocking=False):
    dst.inner.copy_(self.inner if isinstance(self, Other) else self)
    return dst


_LIBRARY.impl("_copy_from", _copy_from, "Lazy")
_module_to = nn.Module.to


def _to(self: nn.Module, *args, **kwargs) -> nn.Module:
    device = kwargs.get("device", args[0] if args else None)
    if not (isinstance(device, (str, torch.device)) and _on_other(device)):
        return _module_to(self, *args, **kwargs)
    for module in self.modules():  # nn.Module.to would keep a Parameter's class, not the wrapper's
        for name, p in list(module._parameters.items()):
            if p is not None and not isinstance(p, Other):
                moved = Other(p.detach().clone()).requires_grad_(p.requires_grad)
                moved._is_param = True
                module._parameters[name] = moved
        for name, b in list(module._buffers.items()):
            if b is not None and not isinstance(b, Other):
                module._buffers[name] = Other(b.clone())
    return self


@contextlib.contextmanager
def other_device() -> Iterator[torch.device]:
    """Inside the block, :data:`OTHER` works as a device; :attr:`Reads.count` starts at 0."""
    Reads.count = 0
    nn.Module.to = _to
    try:
        with _Factories():
            yield OTHER
    finally:
        nn.Module.to = _module_to
