"""Explicit randomness: library code draws from generators it is handed, never from global state."""

from __future__ import annotations

import numbers

import torch


def generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed``, an integer in torch's seed range ``[-2**63, 2**64)``.

    Raises:
        ValueError: ``seed`` not an integer (``int()`` would read 1.5 and ``True`` as seed 1) or out of that range.

    Examples:
        >>> float(torch.rand(1, generator=generator(0))) == float(torch.rand(1, generator=generator(0)))
        True
        >>> generator(1.5)
        Traceback (most recent call last):
        ...
        ValueError: seed must be an integer in [-2**63, 2**64), got 1.5
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not -(2**63) <= seed < 2**64:
        raise ValueError(f"seed must be an integer in [-2**63, 2**64), got {seed!r}")
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


def derive_seed(seed: int, *tags: int | str) -> int:
    """A reproducible 63-bit seed for a named sub-stream of ``seed`` (e.g. batch order at a step).

    Examples:
        >>> derive_seed(0, "batch", 3) == derive_seed(0, "batch", 3) != derive_seed(0, "batch", 4)
        True
    """
    import hashlib

    text = ":".join(str(t) for t in (seed, *tags)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") >> 1
