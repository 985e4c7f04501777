"""Compact rows: a training split too large to hold dense, stored as it was drawn and decoded on indexing.

:class:`OneHotBitRows` holds rows ``[one_hot(index, n_classes) | bits]`` (multitask sparse parity's
inputs) as the class index of each row and its bits packed eight to a byte: for 500 classes and 100
bits a row takes 8 + 13 bytes instead of 600 floats (2400 bytes). Indexing it (an int, a slice, an
index tensor or a mask, as a tensor is indexed along its first axis) returns the dense float rows, so
a training step or a tracker reading ``split.x[idx]`` or ``split.x[:n]`` decodes only the rows it
reads; ``x[:]`` decodes them all, as does any other use of it as a tensor (a torch function given
it, or a tensor method it does not define), so code written for a dense split runs on it unchanged.

Examples:
    >>> bits = torch.tensor([[1, 0, 1], [0, 1, 1]], dtype=torch.uint8)
    >>> rows = OneHotBitRows.from_bits(torch.tensor([1, 0]), bits, n_classes=2)
    >>> tuple(rows.shape), rows.dtype, rows[:].tolist()
    ((2, 5), torch.float32, [[0.0, 1.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 1.0, 1.0]])
    >>> rows[torch.tensor([1])].tolist(), rows.to(torch.float64)[0].dtype
    ([[1.0, 0.0, 0.0, 1.0, 1.0]], torch.float64)
"""

from __future__ import annotations

from typing import Any

import torch
from jaxtyping import Int
from torch import Tensor


def pack_bits(bits: Int[Tensor, "n n_bits"]) -> Int[Tensor, "n n_bytes"]:
    """``bits`` (values 0/1) packed eight to a byte, least significant first: ``(n, ceil(n_bits / 8))`` uint8.

    Examples:
        >>> pack_bits(torch.tensor([[1, 0, 0, 0, 0, 0, 0, 0, 1]])).tolist()
        [[1, 1]]
    """
    n, n_bits = bits.shape
    padded = torch.zeros(n, -(-n_bits // 8) * 8, dtype=torch.uint8, device=bits.device)
    padded[:, :n_bits] = bits
    shifts = torch.arange(8, dtype=torch.uint8, device=bits.device)
    return (padded.view(n, padded.shape[1] // 8, 8) << shifts).sum(-1, dtype=torch.uint8)


def unpack_bits(packed: Int[Tensor, "n n_bytes"], n_bits: int) -> Int[Tensor, "n n_bits"]:
    """The first ``n_bits`` bits of each row of ``packed`` (:func:`pack_bits`'s order), ``(n, n_bits)`` uint8.

    Examples:
        >>> unpack_bits(torch.tensor([[5]], dtype=torch.uint8), 3).tolist()
        [[1, 0, 1]]
    """
    shifts = torch.arange(8, dtype=torch.uint8, device=packed.device)
    return ((packed.unsqueeze(-1) >> shifts) & 1).reshape(packed.shape[0], packed.shape[1] * 8)[:, :n_bits]  # no row: still (0, n_bits)


class OneHotBitRows:
    """Rows ``[one_hot(index, n_classes) | bits]`` of ``dtype``, held as ``index`` ``(n,)`` and packed ``bits`` ``(n, ceil(n_bits / 8))`` uint8.

    Shaped ``(n, n_classes + n_bits)``; indexing along the first axis decodes the rows read (a further
    index, ``rows[:, :k]``, applies to the decoded rows). ``to`` moves it to a device or sets the
    floating-point dtype it decodes to, as ``Tensor.to`` does.

    Examples:
        >>> rows = OneHotBitRows.from_bits(torch.tensor([2, 0, 1]), torch.ones(3, 10, dtype=torch.uint8), n_classes=3)
        >>> len(rows), tuple(rows.shape), rows.nbytes   # 3 indices of 8 bytes, 3 rows of 2 bytes
        (3, (3, 13), 30)
        >>> rows[1:, :4].tolist()
        [[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 1.0]]
    """

    def __init__(self, index: Tensor, packed: Tensor, n_classes: int, n_bits: int, dtype: torch.dtype = torch.float32) -> None:
        if index.ndim != 1 or packed.ndim != 2 or packed.shape[0] != index.shape[0] or packed.shape[1] != -(-n_bits // 8):
            raise ValueError(f"OneHotBitRows needs index (n,) and packed (n, ceil(n_bits / 8)) for n_bits={n_bits}, got {tuple(index.shape)} and {tuple(packed.shape)}")
        if packed.dtype != torch.uint8 or not dtype.is_floating_point:
            raise ValueError(f"OneHotBitRows needs packed bits of uint8 and a floating-point dtype, got {packed.dtype} and {dtype}")
        self.index, self.packed, self.n_classes, self.n_bits, self.dtype = index, packed, n_classes, n_bits, dtype

    @classmethod
    def from_bits(cls, index: Tensor, bits: Tensor, n_classes: int, dtype: torch.dtype = torch.float32) -> OneHotBitRows:
        """The rows of class ``index`` ``(n,)`` and ``bits`` ``(n, n_bits)`` (values 0/1)."""
        return cls(index, pack_bits(bits), n_classes, bits.shape[1], dtype)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((self.index.shape[0], self.n_classes + self.n_bits))

    @property
    def ndim(self) -> int:
        return 2

    @property
    def device(self) -> torch.device:
        return self.index.device

    @property
    def nbytes(self) -> int:
        """Bytes held: the indices and the packed bits."""
        return self.index.nbytes + self.packed.nbytes

    def __len__(self) -> int:
        return self.index.shape[0]

    def is_floating_point(self) -> bool:
        return True

    def to(self, *args: Any, **kwargs: Any) -> OneHotBitRows:
        """Moved to a device and/or decoding to a floating-point dtype: ``rows.to("cuda")``, ``rows.to(torch.float64)``."""
        dtype = next((a for a in (*args, kwargs.get("dtype")) if isinstance(a, torch.dtype)), self.dtype)
        device = next((a for a in (*args, kwargs.get("device")) if isinstance(a, (str, torch.device))), self.device)
        return OneHotBitRows(self.index.to(device), self.packed.to(device), self.n_classes, self.n_bits, dtype)

    def __getitem__(self, key: Any) -> Tensor:
        rest = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        index, packed = self.index[key], self.packed[key]
        single = index.ndim == 0
        if single:
            index, packed = index.unsqueeze(0), packed.unsqueeze(0)
        out = torch.zeros(index.shape[0], self.n_classes + self.n_bits, dtype=self.dtype, device=self.device)
        out[torch.arange(index.shape[0], device=self.device), index.long()] = 1
        out[:, self.n_classes :] = unpack_bits(packed, self.n_bits)
        out = out[0] if single else out
        return out[(slice(None),) * (not single) + rest] if rest else out

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        """A torch function given compact rows (``torch.equal``, ``torch.stack``, ``x @ w``) reads them all decoded."""
        return func(*_decoded(args), **_decoded(kwargs or {}))

    def __getattr__(self, name: str) -> Any:
        """A tensor attribute the store does not define (``x.double()``, ``x.numpy()``, ``x.sum(0)``) is the decoded rows'."""
        if name.startswith("_") or not hasattr(Tensor, name):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(self[:], name)

    def __matmul__(self, other: Any) -> Any:
        return self[:] @ other

    def __rmatmul__(self, other: Any) -> Any:
        return other @ self[:]

    def __repr__(self) -> str:
        return f"OneHotBitRows(shape={tuple(self.shape)}, n_classes={self.n_classes}, dtype={self.dtype}, device={self.device}, nbytes={self.nbytes})"


def _decoded(value: Any) -> Any:
    """``value`` with every :class:`OneHotBitRows` in it (within tuples, lists and dicts) decoded."""
    if isinstance(value, OneHotBitRows):
        return value[:]
    if isinstance(value, (tuple, list)):
        return type(value)(_decoded(v) for v in value)
    if isinstance(value, dict):
        return {k: _decoded(v) for k, v in value.items()}
    return value


def dense(x: Tensor | OneHotBitRows) -> Tensor:
    """``x`` as a tensor: a tensor as it is, compact rows all decoded.

    Examples:
        >>> t = torch.zeros(2, 3); dense(t) is t, tuple(dense(OneHotBitRows.from_bits(torch.tensor([0]), torch.ones(1, 2, dtype=torch.uint8), 1)).shape)
        (True, (1, 3))
    """
    return x if isinstance(x, Tensor) else x[:]


__all__ = ["OneHotBitRows", "dense", "pack_bits", "unpack_bits"]
