"""The mode tracker's measurement of a stack of captures: the rows of mode_strengths and mode_alignment,
the same bits for a map alone or in any stack, finite or not."""

from types import SimpleNamespace

import pytest
import torch

from bridge.trackers.modes import (
    ModeTracker,
    _singular_vectors,
    mode_alignment,
    mode_strengths,
)


def rotation(n: int, seed: int, dtype: torch.dtype) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)))
    return q.to(dtype)


def teacher(m: int, n: int, dtype: torch.dtype) -> SimpleNamespace:
    """Task data with a teacher of min(m, n) modes, the first two sharing a singular value."""
    k = min(m, n)
    s = torch.tensor([2.0, 2.0] + [1.0 / (i + 1) for i in range(k - 2)], dtype=dtype)
    return SimpleNamespace(info={"U": rotation(m, 1, dtype)[:, :k], "V": rotation(n, 2, dtype)[:, :k], "S": s})


def rows_of(w, data):
    """The tracker's rows as mode_strengths and mode_alignment give them: (strengths, alignments) per map."""
    u, v, s = data.info["U"], data.info["V"], data.info["S"]
    return mode_strengths(w, u, v), mode_alignment(w, u, v, s)


def as_tensors(rows, dtype):
    strengths = torch.tensor([[r["value"] for r in map_rows if r["observable"] == "mode/strength"] for map_rows in rows], dtype=dtype)
    alignments = torch.tensor([[r["value"] for r in map_rows if r["observable"] == "mode/alignment"] for map_rows in rows], dtype=dtype)
    return strengths, alignments


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [((31, 16), torch.float32), ((16, 16), torch.float32), ((32, 35), torch.float32), ((8, 8), torch.float64), ((7, 8), torch.float32), ((7, 32), torch.float32), ((9, 32), torch.float32), ((5, 5), torch.float64)],
)
def test_a_map_gets_the_same_singular_vectors_and_rows_alone_and_in_stacks_of_any_size(shape, dtype):
    """A batched SVD of 7×8, 7×32, 9×32 or 5×5 maps moves last bits with the stack; the tracker decomposes
    map by map."""
    w = torch.randn(9, *shape, dtype=dtype, generator=torch.Generator().manual_seed(shape[0] * 100 + shape[1]))
    uh, vh = _singular_vectors(w)
    for i in range(len(w)):
        alone_u, _, alone_vh = torch.linalg.svd(w[i], full_matrices=False)
        assert torch.equal(uh[i], alone_u) and torch.equal(vh[i], alone_vh), i
    data = teacher(*shape, dtype)
    alone = [ModeTracker().measure([m], data)[0] for m in w]
    for size in (2, 5, 9):
        assert ModeTracker().measure(list(w[:size]), data) == alone[:size]
    torch.testing.assert_close(as_tensors(alone, dtype), rows_of(w, data), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_maps_with_a_non_finite_entry_get_nan_alignments_and_a_finite_map_with_overflowing_strengths_is_aligned(dtype):
    """A non-finite entry makes every strength of its map non-finite, so finite strengths spare the check of
    the maps; a finite map whose strengths overflow is still decomposed and aligned."""
    w = torch.randn(6, 7, 9, dtype=dtype, generator=torch.Generator().manual_seed(4))
    w[1, 4, 7] = float("nan")
    w[2, 0, 0] = float("inf")
    w[3, 5, 2] = -float("inf")
    data = teacher(7, 9, dtype)
    u, v = data.info["U"], data.info["V"]
    w[4] = torch.finfo(dtype).max / 2 * torch.outer(torch.sign(u[:, 0]), torch.sign(v[:, 0]))  # finite, but u₀ᵀ W v₀ overflows
    rows = ModeTracker().measure(list(w), data)
    strengths, alignments = as_tensors(rows, dtype)
    expected_strengths, expected_alignments = rows_of(w, data)
    torch.testing.assert_close(strengths, expected_strengths, rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(alignments, expected_alignments, rtol=0, atol=0, equal_nan=True)
    assert torch.isnan(alignments[1:4]).all() and not torch.isfinite(strengths[1:4]).any() and not torch.isfinite(strengths[4]).all()
    assert torch.isfinite(alignments[[0, 4, 5]]).all() and torch.isfinite(strengths[[0, 5]]).all()
    for i in range(len(w)):  # and alone, the same rows
        torch.testing.assert_close(as_tensors(ModeTracker().measure([w[i]], data), dtype), (strengths[i : i + 1], alignments[i : i + 1]), rtol=0, atol=0, equal_nan=True)
