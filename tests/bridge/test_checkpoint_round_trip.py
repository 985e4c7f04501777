"""Checkpoint storage gives back the tensors it was given, and tells damage apart: over random state dicts
(every dtype the run store writes, 0-d and empty tensors, strided, transposed and expanded views, ASCII and
unicode names) the bytes are safetensors' own and load back bit for bit; a file cut short anywhere, or with
any one bit flipped, is refused in one line naming the file (a flipped bit of the tensor data or of the header by
their checksums; a bit that leaves the header's meaning whole may load the same tensors); nothing is ever unpickled."""

from __future__ import annotations

import math
import pickle
import struct

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save

from bridge import RunConfig, ScheduleConfig, TrainConfig, load_run, train
from bridge.models import DeepLinearConfig
from bridge.runs.checkpoints import checkpoint_path
from bridge.runs.errors import CorruptFileError
from bridge.runs.storage import load_tensors, read_metadata, save_tensors, tensors_to_bytes
from bridge.tasks import LinearTeacherConfig
from tests.helpers import packed_metadata

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool]


def tensor(dtype: torch.dtype, shape: list[int], seed: int, view: str) -> torch.Tensor:
    """A tensor of random bits (NaNs and subnormals among the floats) of ``shape``, stored as ``view`` says."""
    n = math.prod(shape)
    size = torch.empty((), dtype=dtype).element_size()
    raw = torch.randint(0, 256, (2 * max(n, 1) * size,), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
    base = (raw % 2).bool() if dtype == torch.bool else raw.view(dtype)
    if view == "expanded":  # one element seen at every position (stride 0)
        return base[0].expand(shape)
    if view == "strided":  # every other element (stride 2, also of one element or none)
        return base[::2][:n].reshape(shape)
    if view == "transposed":
        return base[:n].reshape(shape[::-1]).permute(list(reversed(range(len(shape)))))
    return base[:n].reshape(shape)


def raw_bits(t: torch.Tensor) -> torch.Tensor:
    flat = t.clone(memory_format=torch.contiguous_format).reshape(-1)
    return flat if flat.dtype == torch.bool else flat.view(torch.uint8)


names = st.text("abc._0", min_size=1, max_size=4) | st.text(st.characters(codec="utf-8", blacklist_categories=("Cs",)), min_size=1, max_size=4)
state_dicts = st.dictionaries(names, st.builds(tensor, st.sampled_from(DTYPES), st.lists(st.integers(0, 3), max_size=3), st.integers(0, 2**16), st.sampled_from(["plain", "strided", "transposed", "expanded"])), min_size=1, max_size=5)


@pytest.fixture
def no_unpickling(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a checkpoint was unpickled")

    for module, name in ((pickle, "loads"), (pickle, "load"), (pickle, "Unpickler"), (torch, "load")):
        monkeypatch.setattr(module, name, refuse)


@PROPERTY
@given(tensors=state_dicts, step=st.integers(0, 10**8))
def test_a_state_dict_is_stored_as_safetensors_writes_it_and_loads_back_bit_for_bit(tmp_path_factory, no_unpickling, tensors, step):
    copies = {k: v.clone(memory_format=torch.contiguous_format) for k, v in tensors.items()}
    data = tensors_to_bytes(tensors, {"step": str(step)})
    plain = save(copies)
    assert data == save(copies, metadata=packed_metadata(plain, {"step": str(step)}))
    file = tmp_path_factory.mktemp("ckpt") / f"step_{step:08d}.safetensors"
    save_tensors(file, tensors, {"step": str(step)})
    assert file.read_bytes() == data
    back = load_tensors(file)
    assert sorted(back) == sorted(tensors) and read_metadata(file) == {"step": str(step)}
    for name, t in tensors.items():
        assert back[name].dtype == t.dtype and back[name].shape == t.shape, name
        assert torch.equal(raw_bits(back[name]), raw_bits(t)), name


@pytest.mark.parametrize("view", ["x[::2] of two", "an expanded scalar", "x[::2][:0]"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64])
def test_a_view_of_at_most_one_element_with_another_stride_is_saved(tmp_path, view, dtype):
    """contiguous() leaves such a view as it is, and its bytes could not be taken: saving raised RuntimeError."""
    base = torch.arange(1, 5).to(dtype)
    t = {"x[::2] of two": base[:2][::2], "an expanded scalar": base[1].expand(1), "x[::2][:0]": base[::2][:0]}[view]
    assert t.stride(0) != 1
    save_tensors(tmp_path / "step_00000001.safetensors", {"w": t, "b": base})
    back = load_tensors(tmp_path / "step_00000001.safetensors")
    assert back["w"].dtype == dtype and back["w"].tolist() == t.tolist() and back["b"].tolist() == base.tolist()


def refused_in_one_line(file, load) -> bool:
    """Whether ``load(file)`` raises ``CorruptFileError`` (naming the file, on one line); any other exception fails."""
    try:
        load(file)
    except CorruptFileError as e:
        assert file.name in str(e) and "\n" not in str(e), str(e)
        return True
    return False


@PROPERTY
@given(tensors=state_dicts, cut=st.floats(0, 1, exclude_max=True), flip=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7))
def test_a_checkpoint_cut_short_or_with_one_bit_flipped_is_refused_naming_it(tmp_path_factory, no_unpickling, tensors, cut, flip, bit):
    data = tensors_to_bytes(tensors, {"step": "7"})
    (length,) = struct.unpack("<Q", data[:8])
    file = tmp_path_factory.mktemp("damaged") / "step_00000007.safetensors"
    file.write_bytes(data[: int(cut * len(data))])
    assert refused_in_one_line(file, load_tensors) and refused_in_one_line(file, read_metadata)
    at = int(flip * len(data))
    damaged = bytearray(data)
    damaged[at] ^= 1 << bit
    file.write_bytes(damaged)
    if at >= 8 + length:  # a stored value: its checksum says so
        with pytest.raises(CorruptFileError, match="step_00000007.safetensors does not match the checksum it was saved with"):
            load_tensors(file)
    elif not refused_in_one_line(file, load_tensors):  # a bit of the header: its checksum says so, or nothing it says has changed
        back = load_tensors(file)
        assert sorted(back) == sorted(tensors) and all(torch.equal(raw_bits(back[k]), raw_bits(t)) for k, t in tensors.items())
    refused_in_one_line(file, read_metadata)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cfg = RunConfig(LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3), DeepLinearConfig(4, 8, 3, init_std=0.05), TrainConfig(lr=0.05, steps=6, schedule=ScheduleConfig(n_log=3)), seed=0)
    return train(cfg, tmp_path_factory.mktemp("run") / "run", progress=False).path


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(cut=st.floats(0, 1), flip=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7))
def test_a_run_gives_the_weights_it_saved_or_names_the_damaged_checkpoint(trained, no_unpickling, cut, flip, bit):
    """Through ``load_run(...).model_at``: any damage either leaves the saved weights or is one line naming the file
    (a renamed or reshaped tensor by the model's names and shapes)."""
    file = checkpoint_path(trained, 6)
    whole = file.read_bytes()
    saved = {k: v.clone() for k, v in load_run(trained).model_at(6).state_dict().items()}
    damaged = bytearray(whole[: int(cut * len(whole))] if cut < 1 else whole)
    if cut == 1:
        damaged[int(flip * len(whole))] ^= 1 << bit
    try:
        file.write_bytes(damaged)
        try:
            weights = load_run(trained).model_at(6).state_dict()
        except CorruptFileError as e:
            assert "step_00000006.safetensors" in str(e) and "\n" not in str(e), str(e)
        else:
            assert all(torch.equal(raw_bits(weights[k]), raw_bits(v)) for k, v in saved.items())
    finally:
        file.write_bytes(whole)
