"""Multitask sparse parity's training inputs held compactly: bytes a row, decoding equal to the dense rows, training unchanged."""

import tempfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import bridge.training.inputs as inputs
from bridge.config import RunConfig, ScheduleConfig, TrainConfig
from bridge.models import MLPConfig
from bridge.seeding import derive_seed, generator
from bridge.tasks import SparseParityConfig, Split, TaskData, make_task
from bridge.tasks.rows import OneHotBitRows, dense, pack_bits, unpack_bits
from bridge.tasks.sparse_parity import SAMPLE_CHUNK, sparse_parity_labels, sparse_parity_test
from bridge.training.loop import train
from helpers import LargestTensor


def _dense_reference(cfg, seed):
    """The training rows drawn at once and held dense, as the task drew them before it held them compactly."""
    data = make_task(cfg, seed)
    g = generator(derive_seed(seed, "sparse_parity", "train"))
    task = torch.multinomial(data.info["frequencies"], cfg.n_train, replacement=True, generator=g)
    bits = torch.randint(0, 2, (cfg.n_train, cfg.n_bits), generator=g)
    return data, task, torch.cat([F.one_hot(task, cfg.n_tasks), bits], dim=1).float()


def test_training_rows_take_index_and_packed_bits_and_decode_to_the_dense_rows():
    cfg = SparseParityConfig(n_tasks=500, n_bits=100, k_bits=3, n_train=3000, n_test_per_task=1)  # the full preset's row shape
    data, task, x = _dense_reference(cfg, seed=2)
    rows = data.train.x
    assert 21 * 3000 <= rows.nbytes <= 21 * 3000  # 8 bytes of subtask index and 13 of bits a row; dense float32 takes 2400
    assert tuple(rows.shape) == (3000, 600) and len(data.train) == 3000
    assert torch.equal(rows[:], x) and torch.equal(task, data.info["train_task"])
    assert torch.equal(sparse_parity_labels(x, data.info["subtask_bits"]), data.train.y)
    idx = torch.randperm(3000, generator=torch.Generator().manual_seed(0))[:64]
    assert torch.equal(rows[idx], x[idx]) and torch.equal(rows[5], x[5]) and torch.equal(rows[10:20, :500], x[10:20, :500])
    mask = data.train.y == 1
    assert torch.equal(rows[mask], x[mask]) and 1000 < int(mask.sum()) < 2000
    assert torch.equal(rows.to(torch.float64)[idx], x[idx].double())


def test_drawing_the_training_set_holds_chunks_of_bits_not_all_rows_dense():
    cfg = SparseParityConfig(n_tasks=500, n_bits=100, k_bits=3, n_train=3 * SAMPLE_CHUNK, n_test_per_task=1)
    with LargestTensor() as seen:
        make_task(cfg, seed=0)
    # all rows at once built (n_train, 600) = 118 million elements; a chunk's bits, padded to bytes, 65536 * 104
    assert SAMPLE_CHUNK * 100 <= seen.most <= SAMPLE_CHUNK * 104


def test_test_split_alone_is_the_task_test_split_and_draws_no_training_set(monkeypatch):
    cfg = SparseParityConfig(n_tasks=4, n_bits=10, k_bits=2, n_train=500, n_test_per_task=7)
    data = make_task(cfg, seed=1)
    drawn = []
    original = torch.randint
    monkeypatch.setattr(torch, "randint", lambda *a, **k: drawn.append(a[2][0]) or original(*a, **k))
    test, info = sparse_parity_test(cfg, seed=1)
    assert drawn == [28]  # the 4 * 7 test rows only
    assert torch.equal(test.x, data.test.x) and torch.equal(test.y, data.test.y)
    assert sorted(info) == sorted(k for k in data.info if k != "train_task")
    assert torch.equal(info["subtask_bits"], data.info["subtask_bits"]) and torch.equal(info["test_task"], data.info["test_task"])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(1, 20), st.integers(1, 7), st.integers(0, 2**31))
def test_pack_and_unpack_round_trip_and_rows_index_as_the_dense_tensor(n, n_bits, n_classes, seed):
    g = torch.Generator().manual_seed(seed)
    bits = torch.randint(0, 2, (n, n_bits), generator=g, dtype=torch.uint8)
    index = torch.randint(0, n_classes, (n,), generator=g)
    assert pack_bits(bits).shape == (n, -(-n_bits // 8)) and torch.equal(unpack_bits(pack_bits(bits), n_bits), bits)
    rows = OneHotBitRows.from_bits(index, bits, n_classes)
    x = torch.cat([F.one_hot(index, n_classes), bits.long()], dim=1).float()
    pick = torch.randint(0, n, (5,), generator=g)
    for key in (slice(None), slice(1, None, 2), pick, n - 1, (pick, slice(0, n_classes)), (0, -1)):
        assert torch.equal(rows[key], x[key])
    assert torch.equal(dense(rows), x) and dense(x) is x


def test_rows_refuse_mismatched_parts():
    with pytest.raises(ValueError, match=r"index \(n,\) and packed \(n, ceil\(n_bits / 8\)\) for n_bits=9, got \(3,\) and \(3, 1\)"):
        OneHotBitRows(torch.zeros(3, dtype=torch.long), torch.zeros(3, 1, dtype=torch.uint8), 2, 9)
    with pytest.raises(ValueError, match="uint8 and a floating-point dtype, got torch.uint8 and torch.int64"):
        OneHotBitRows(torch.zeros(3, dtype=torch.long), torch.zeros(3, 1, dtype=torch.uint8), 2, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="disagree on the number of examples: 3 vs 2"):
        Split(OneHotBitRows(torch.zeros(3, dtype=torch.long), torch.zeros(3, 1, dtype=torch.uint8), 2, 4), torch.zeros(2))


@pytest.mark.parametrize("batch_size", [64, None])
def test_training_on_the_compact_rows_gives_the_losses_of_the_dense_rows(monkeypatch, batch_size):
    task = SparseParityConfig(n_tasks=4, n_bits=8, k_bits=2, n_train=512, n_test_per_task=16)
    cfg = RunConfig(task, MLPConfig(d_in=12, d_out=2, widths=(16,)), TrainConfig(optimizer="adam", lr=1e-2, steps=40, batch_size=batch_size, schedule=ScheduleConfig(n_log=2, every=20, track_every=10)), seed=3)
    root = Path(tempfile.mkdtemp())
    compact = train(cfg, root / "compact", device="cpu", progress=False)
    built = inputs.make_task
    monkeypatch.setattr(inputs, "make_task", lambda c, s: (lambda d: TaskData(Split(d.train.x[:], d.train.y), d.test, d.loss, d.info))(built(c, s)))
    held_dense = train(cfg, root / "dense", device="cpu", progress=False)
    for name in ("loss/train", "loss/test"):
        steps, values = compact.curve(name)
        assert len(steps) == 6 and torch.equal(torch.tensor(values), torch.tensor(held_dense.curve(name)[1]))
    assert 0.0 < values[-1] < 0.75  # a finite cross-entropy, below ln 2 plus a margin


def test_compact_rows_read_as_a_tensor_by_torch_functions_and_tensor_methods():
    data = make_task(SparseParityConfig(n_tasks=4, n_bits=8, k_bits=2, n_train=64, n_test_per_task=5), seed=0)
    rows, x = data.train.x, data.train.x[:]
    w = torch.linspace(-1.0, 1.0, 12)
    assert torch.equal(rows, x) and torch.equal(torch.stack([rows, rows]), torch.stack([x, x]))
    assert torch.equal(rows @ w, x @ w) and torch.equal(torch.ones(3, 64) @ rows, torch.ones(3, 64) @ x)
    assert rows.double().dtype == torch.float64 and torch.equal(rows.double(), x.double())
    assert rows.numpy().shape == (64, 12) and rows.sum().item() == x.sum().item() == 64 + x[:, 4:].sum().item()
    with pytest.raises(AttributeError, match="no attribute 'not_a_tensor_method'"):
        rows.not_a_tensor_method  # noqa: B018


def test_a_tracker_reading_the_whole_split_measures_the_compact_rows_as_the_dense_ones():
    from bridge.models import build_model
    from bridge.trackers.curvature import SharpnessTracker

    data = make_task(SparseParityConfig(n_tasks=4, n_bits=8, k_bits=2, n_train=96, n_test_per_task=5), seed=1)
    as_dense = TaskData(Split(data.train.x[:], data.train.y), data.test, data.loss, data.info)
    model = build_model(MLPConfig(d_in=12, widths=(16,), d_out=2), seed=0)
    compact_rows = SharpnessTracker(k=2, trace_probes=0, loading=False, seed=0)(model, 0, data)
    dense_rows = SharpnessTracker(k=2, trace_probes=0, loading=False, seed=0)(model, 0, as_dense)
    assert [{k: v for k, v in r.items() if k != "value"} for r in compact_rows] == [{k: v for k, v in r.items() if k != "value"} for r in dense_rows]
    assert [r["value"] for r in compact_rows] == pytest.approx([r["value"] for r in dense_rows], rel=1e-6, abs=1e-9)
    assert [r["value"] for r in compact_rows if r["observable"] == "curvature/top_eig"] == pytest.approx([1.5503, 0.3317], abs=1e-3)  # two eigenvalues measured, not an empty table


def test_the_kernel_tracker_probes_the_compact_rows_as_the_dense_ones():
    from bridge.models import build_model
    from bridge.trackers.kernel import KernelTracker

    data = make_task(SparseParityConfig(n_tasks=4, n_bits=8, k_bits=2, n_train=48, n_test_per_task=5), seed=1)
    as_dense = TaskData(Split(data.train.x[:], data.train.y), data.test, data.loss, data.info)
    model = build_model(MLPConfig(d_in=12, widths=(16,), d_out=2), seed=0)
    x, _ = KernelTracker(n_probe=64).probes(data)
    assert isinstance(x, torch.Tensor) and torch.equal(x, as_dense.train.x)
    compact = KernelTracker(n_probe=64)(model, 0, data)
    assert len(compact) > 0 and [r["value"] for r in compact] == pytest.approx([r["value"] for r in KernelTracker(n_probe=64)(model, 0, as_dense)], rel=1e-6)
