"""Trackers on a float64 model and task (what a run with ``train.dtype="float64"`` hands them): every built-in
tracker gives the observables it gives in float32, with values that agree to float32 rounding, and the trackers
that build inputs of their own (the one-hot grid of modular arithmetic, the identity a linear map is read on)
build them in the model's dtype."""

import copy
import math
import warnings

import pytest
import torch

import bridge.trackers as T
from bridge.estimators import SGLDConfig
from bridge.models import MLP, DeepLinearConfig, MLPConfig, ToySuperpositionConfig, TransformerConfig, build_model
from bridge.tasks import (
    BooleanCubeConfig,
    HierarchyConfig,
    LinearTeacherConfig,
    ModularConfig,
    RepeatedTokensConfig,
    SparseFeaturesConfig,
    SparseParityConfig,
    TeacherMLPConfig,
    make_task,
)
from bridge.training.inputs import in_dtype
from probes.modular import grid_inputs


def teacher():
    return make_task(LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3, n_train=16), seed=0)


def tanh_mlp():
    return build_model(MLPConfig(d_in=4, d_out=3, widths=(8,), activation="tanh"), seed=0)


def parity():
    return make_task(SparseParityConfig(n_tasks=3, n_bits=6, k_bits=2, n_train=8, n_test_per_task=32), seed=0)


def induction():
    data = make_task(RepeatedTokensConfig(d_vocab=16, n_ctx=12, n_train=8, n_test=8, n_off=8, prefix=(0, 2), block=(3, 5), off_prefix=(3, 4), off_block=(3, 4)), seed=0)
    return data, build_model(TransformerConfig(d_vocab=16, n_ctx=12, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)


def template():
    return make_task(ModularConfig(p=5, encoding="onehot", template_frequencies=(1, 2), template_magnitudes=(1.0, 2.0)), seed=0)


CASES = {  # registered name -> (tracker, model, data); the sharpness trackers are left to their Lanczos tolerance
    "coordinates": lambda: (T.CoordinatesTracker(max_examples=8), MLP(MLPConfig(d_in=3, d_out=1, widths=(8,)), seed=0), make_task(TeacherMLPConfig(d_in=3, n_train=8, n_test=0), seed=0)),
    "differentiation": lambda: (T.DifferentiationTracker(), build_model(DeepLinearConfig(4, 8, 7), seed=0), make_task(HierarchyConfig(depth=2, branching=2), seed=0)),
    "feature_geometry": lambda: (T.FeatureGeometryTracker(), build_model(ToySuperpositionConfig(n_features=5, n_hidden=2), seed=0), make_task(SparseFeaturesConfig(n_features=5, n_train=64, n_test=64), seed=0)),
    "feature_alignment": lambda: (T.FeatureAlignmentTracker(support=(0, 2)), tanh_mlp(), teacher()),
    "fourier": lambda: (T.FourierTracker(), build_model(MLPConfig(d_in=14, d_out=7, widths=(8,), activation="quadratic"), seed=0), make_task(ModularConfig(p=7, encoding="onehot"), seed=0)),
    "heads": lambda: (T.HeadScoreTracker(n_eval=8), induction()[1], induction()[0]),
    "hidden_progress": lambda: (T.HiddenProgressTracker(), build_model(MLPConfig(d_in=9, d_out=2, widths=(8,)), seed=0), parity()),
    "icl": lambda: (T.InContextTracker(n_eval=8, window=4), induction()[1], induction()[0]),
    "kernel": lambda: (T.KernelTracker(n_probe=8, k=2), tanh_mlp(), teacher()),
    "llc": lambda: (T.LLCTracker(SGLDConfig(n_chains=2, n_draws=10, n_burnin=5, step_size=1e-4), per_chain=True), build_model(DeepLinearConfig(4, 8, 3, init_std=0.5), seed=0), teacher()),
    "loss": lambda: (T.LossTracker(), build_model(DeepLinearConfig(4, 8, 3, init_std=0.5), seed=0), teacher()),
    "modes": lambda: (T.ModeTracker(), build_model(DeepLinearConfig(4, 8, 3, init_std=0.5), seed=0), teacher()),
    "subtask_loss": lambda: (T.SubtaskLossTracker(), build_model(MLPConfig(d_in=9, d_out=2, widths=(8,)), seed=0), parity()),
    "template_loss": lambda: (T.TemplateLossTracker(), build_model(MLPConfig(d_in=10, d_out=5, widths=(8,)), seed=0), template()),
    "walsh": lambda: (T.WalshTracker(), build_model(MLPConfig(d_in=4, d_out=1), seed=0), make_task(BooleanCubeConfig(d=4, subsets=((0,), (1, 2)), coefficients=(1.0, 0.5), n_train=8), seed=0)),
    "weight_norm": lambda: (T.WeightNormTracker(), tanh_mlp(), teacher()),
}


def keyed(rows):
    return {(r["observable"], tuple(sorted((k, v) for k, v in r.items() if k not in ("observable", "value")))): r["value"] for r in rows}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_tracker_gives_a_float64_model_the_rows_of_its_float32_copy_to_float32_rounding(name):
    tracker, model, data = CASES[name]()
    wide = copy.deepcopy(model).double()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the learning coefficient's sampler warns on so short a chain
        single = keyed(copy.deepcopy(tracker)(model, 0, data))
        double = keyed(copy.deepcopy(tracker)(wide, 0, in_dtype(data, torch.float64)))
    assert single and double.keys() == single.keys()
    if name == "llc":  # SGLD noise drawn in another dtype is another chain: finite, not equal
        assert all(math.isfinite(v) for v in double.values())
        return
    for key, value in single.items():
        assert double[key] == pytest.approx(value, rel=2e-3, abs=2e-4), key


def test_the_fourier_tracker_measures_a_float64_one_hot_network_on_a_float64_grid():
    tracker, model, data = CASES["fourier"]()
    data = in_dtype(data, torch.float64)
    assert grid_inputs(data).dtype == torch.float64 and grid_inputs(make_task(ModularConfig(p=7), seed=0)).dtype == torch.long
    rows = keyed(tracker(model.double(), 0, data))
    assert math.isfinite(rows[("fourier/full_loss", ())]) and rows[("fourier/logit_norm", (("frequency", 1),))] > 0


def test_the_mode_tracker_reads_a_float64_linear_layer_without_end_to_end_in_float64():
    data = in_dtype(make_task(LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), seed=0), torch.float64)
    layer = torch.nn.Linear(3, 3, bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(data.info["teacher"].double() + 1e-12)  # a change float32 would not see
    w = T.end_to_end_map(layer, 3)
    assert w.dtype == torch.float64 and torch.equal(w, layer.weight.detach())
    u, v = data.info["U"].double(), data.info["V"].double()
    strengths = [r["value"] for r in T.ModeTracker()(layer, 0, data) if r["observable"] == "mode/strength"]
    assert strengths == pytest.approx(torch.diag(u.T @ layer.weight.detach() @ v).tolist(), rel=1e-14)


@pytest.mark.parametrize("dtype, scale", [(torch.float32, 1e-25), (torch.float64, 1e-170), (torch.float64, 1e170)])
def test_feature_norms_of_weights_whose_squares_leave_the_dtypes_range_are_their_norms(dtype, scale):
    """Squares of 1e-25 underflow in float32 and of 1e170 overflow in float64: the norms read 0 or inf, and the
    represented count with them, where the same weights at scale 1 read 5 and 1."""
    model = build_model(ToySuperpositionConfig(n_features=3, n_hidden=2), seed=0).to(dtype)
    with torch.no_grad():
        model.W.copy_(scale * torch.tensor([[[3.0, 0.0, 1.0], [4.0, 0.0, 0.0]]], dtype=dtype))
    rows = keyed(T.FeatureGeometryTracker(threshold=0.5 * scale)(model, 0, None))
    norms = [rows[("features/norm", (("feature", i),))] / scale for i in range(3)]
    assert norms == pytest.approx([5.0, 0.0, 1.0], rel=1e-6) and rows[("features/represented", ())] == 2.0


def off_float32_grid(model):
    """``model`` in float64 with every weight moved off the float32 grid, as float64 training moves it."""
    model, g = model.double(), torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g, dtype=torch.float64))
    return model


def test_the_head_tracker_gives_a_float64_model_its_float64_copying_and_composition_scores():
    data, model = induction()
    model = off_float32_grid(model)
    rows = keyed(T.HeadScoreTracker(n_eval=8)(model, 0, in_dtype(data, torch.float64)))
    sd, d, norm = model.state_dict(), 8, torch.linalg.matrix_norm
    qkv = lambda name, layer, h: sd[f"blocks.{layer}.attn.{name}.weight"][h * d : (h + 1) * d].T  # noqa: E731
    ov = {(layer, h): qkv("v", layer, h) @ sd[f"blocks.{layer}.attn.o.weight"][:, h * d : (h + 1) * d].T for layer in range(2) for h in range(2)}
    for (layer, h), m in ov.items():
        eig = torch.linalg.eigvals(sd["embed.weight"] @ m @ sd["unembed.weight"].T)
        expected = float((eig.abs() * (eig.real > 0)).sum() / eig.abs().sum())
        assert rows[("heads/copying", (("head", h), ("layer", layer)))] == pytest.approx(expected, rel=1e-12)
    for h0, h1 in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        qk = qkv("q", 1, h1) @ qkv("k", 1, h1).T
        expected = float(norm(ov[0, h0] @ qk) / (norm(ov[0, h0]) * norm(qk)))
        assert rows[("composition/q", (("head", h0), ("layer", 0), ("to_head", h1), ("to_layer", 1)))] == pytest.approx(expected, rel=1e-12)


def test_the_subtask_tracker_gives_a_float64_model_its_accuracies_as_float64_fractions():
    data = in_dtype(make_task(SparseParityConfig(n_tasks=3, n_bits=6, k_bits=2, n_train=8, n_test_per_task=30), seed=0), torch.float64)
    model = off_float32_grid(build_model(MLPConfig(d_in=9, d_out=2, widths=(8,)), seed=0))
    rows = keyed(T.SubtaskLossTracker()(model, 0, data))
    with torch.no_grad():
        right = model(data.test.x).argmax(-1) == data.test.y
    task = data.info["test_task"]
    for k in range(3):
        expected = int(right[task == k].sum()) / int((task == k).sum())
        assert rows[("subtask/accuracy", (("subtask", k),))] == pytest.approx(expected, rel=1e-12)
