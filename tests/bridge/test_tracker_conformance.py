"""Every tracker the library ships keeps the tracker contract, as bridge.trackers.check_tracker checks it:
on realistic small models and tasks (those of the trackers' own tests), over perturbed copies of the weights."""

import functools
import itertools
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
from bridge.trackers import check_tracker, tracker_names


def teacher():
    return make_task(LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3, n_train=16), seed=0)


def tanh_mlp():
    return build_model(MLPConfig(d_in=4, d_out=3, widths=(8,), activation="tanh"), seed=0)


def deep_linear():
    return build_model(DeepLinearConfig(4, 8, 3, init_std=0.5), seed=0)


def parity():
    return make_task(SparseParityConfig(n_tasks=3, n_bits=6, k_bits=2, n_train=8, n_test_per_task=32), seed=0), build_model(MLPConfig(d_in=9, d_out=2, widths=(8,)), seed=0)


@functools.cache
def induction():
    data = make_task(RepeatedTokensConfig(d_vocab=16, n_ctx=12, n_train=8, n_test=8, n_off=8, prefix=(0, 2), block=(3, 5), off_prefix=(3, 4), off_block=(3, 4)), seed=0)
    return data, build_model(TransformerConfig(d_vocab=16, n_ctx=12, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)


CASES = {  # registered name -> (tracker, model, data), built when its test runs
    "coordinates": lambda: (T.CoordinatesTracker(max_examples=8), MLP(MLPConfig(d_in=3, d_out=1, widths=(8,)), seed=0), make_task(TeacherMLPConfig(d_in=3, n_train=8, n_test=0), seed=0)),
    "curvature_loading": lambda: (T.CurvatureLoadingTracker(trace_probes=4), tanh_mlp(), teacher()),
    "differentiation": lambda: (T.DifferentiationTracker(), build_model(DeepLinearConfig(4, 8, 7), seed=0), make_task(HierarchyConfig(depth=2, branching=2), seed=0)),
    "feature_geometry": lambda: (
        T.FeatureGeometryTracker(),
        build_model(ToySuperpositionConfig(n_features=5, n_hidden=2), seed=0),
        make_task(SparseFeaturesConfig(n_features=5, n_train=64, n_test=64), seed=0),
    ),
    "feature_alignment": lambda: (T.FeatureAlignmentTracker(support=(0, 2)), tanh_mlp(), teacher()),
    "fourier": lambda: (T.FourierTracker(), build_model(MLPConfig(d_in=14, d_out=7, widths=(8,), activation="quadratic"), seed=0), make_task(ModularConfig(p=7, encoding="onehot"), seed=0)),
    "heads": lambda: (T.HeadScoreTracker(n_eval=8), induction()[1], induction()[0]),
    "hidden_progress": lambda: (T.HiddenProgressTracker(), parity()[1], parity()[0]),
    "icl": lambda: (T.InContextTracker(n_eval=8, window=4), induction()[1], induction()[0]),
    "kernel": lambda: (T.KernelTracker(n_probe=8, k=2), tanh_mlp(), teacher()),
    "llc": lambda: (T.LLCTracker(SGLDConfig(n_chains=2, n_draws=10, n_burnin=5, step_size=1e-4), per_chain=True, trace_every=5), deep_linear(), teacher()),
    "loss": lambda: (T.LossTracker(), deep_linear(), teacher()),
    "modes": lambda: (T.ModeTracker(), deep_linear(), teacher()),
    "sharpness": lambda: (T.SharpnessTracker(k=2, trace_probes=4), tanh_mlp(), teacher()),
    "subtask_loss": lambda: (T.SubtaskLossTracker(), parity()[1], parity()[0]),
    "template_loss": lambda: (
        T.TemplateLossTracker(),
        build_model(MLPConfig(d_in=10, d_out=5, widths=(8,)), seed=0),
        make_task(ModularConfig(p=5, encoding="onehot", template_frequencies=(1, 2), template_magnitudes=(1.0, 2.0)), seed=0),
    ),
    "walsh": lambda: (T.WalshTracker(), build_model(MLPConfig(d_in=4, d_out=1), seed=0), make_task(BooleanCubeConfig(d=4, subsets=((0,), (1, 2)), coefficients=(1.0, 0.5), n_train=8), seed=0)),
    "weight_norm": lambda: (T.WeightNormTracker(), tanh_mlp(), teacher()),
}


def test_every_registered_tracker_has_a_conformance_case():
    assert sorted(CASES) == tracker_names()


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_built_in_tracker_keeps_the_contract_and_gets_its_model_back_unchanged(name):
    tracker, model, data = CASES[name]()
    assert type(tracker) is T.TRACKERS.get(name)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the learning coefficient's sampler warns on so short a chain
        rows = check_tracker(tracker, model, data)
    steps = [r["step"] for r in rows]
    assert sorted(set(steps)) == [0, 1, 2] and steps == sorted(steps)
    per_step = [[(r["observable"], {k: v for k, v in r.items() if k not in ("step", "value")}) for r in rows if r["step"] == s] for s in (0, 1, 2)]
    assert per_step[0] and per_step[0] == per_step[1] == per_step[2]  # the same rows at every step
    assert model.training and all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_the_steps_are_the_models_own_weights_first_and_copies_moved_by_scale_times_each_tensors_rms_per_step():
    seen = []

    class Recording:
        name = "recording"

        def __call__(self, model, step, data):
            seen.append(model.weights[0].detach().clone())
            return []

    model = build_model(DeepLinearConfig(8, 64, 3, init_std=0.5), seed=0)
    given = model.weights[0].detach().clone()
    check_tracker(Recording(), model, teacher_of(8), steps=(0, 5, 9), scale=0.01)
    assert torch.equal(seen[0], given)
    rms = float(given.square().mean().sqrt())
    for i in (1, 2):  # standard normal noise: 512 entries give its spread to about 3 %
        z = (seen[i] - given) / (i * 0.01 * rms)
        assert abs(float(z.mean())) < 0.15 and 0.85 < float(z.std()) < 1.15
    assert not torch.equal(seen[1] - given, (seen[2] - given) / 2)  # fresh noise at every step


def teacher_of(d_in):
    return make_task(LinearTeacherConfig((2.0, 1.0), d_in=d_in, d_out=3, n_train=16), seed=0)


def test_the_loss_trackers_stacked_rows_are_bitwise_on_the_toy_superposition_model_and_within_the_default_tolerance_on_narrow_deep_linear_networks():
    toy = build_model(ToySuperpositionConfig(n_features=5, n_hidden=2, n_instances=3), seed=0)
    check_tracker(T.LossTracker(), toy, make_task(SparseFeaturesConfig(n_features=5, n_train=64, n_test=64), seed=0), stacked_rtol=0.0)
    eps = torch.finfo(torch.float32).eps
    for d_in, width, d_out, depth in itertools.product((2, 4), (2, 4, 8), (3, 8), (2, 3)):  # widths where products are small
        model = build_model(DeepLinearConfig(d_in, width, d_out, depth=depth, init_std=0.5), seed=0)
        data = make_task(LinearTeacherConfig((2.0, 1.0), d_in=d_in, d_out=d_out, n_train=16, n_test=16), seed=0)
        check_tracker(T.LossTracker(), model, data, steps=range(4))  # the default: 8 float32 epsilons
        try:
            check_tracker(T.LossTracker(), model, data, steps=range(4), stacked_rtol=0.0)
        except T.TrackerContractError as e:  # a stacked product of small matrices rounds otherwise: by a few units in the last place
            assert e.rule == "stacked" and e.observable in ("loss/train", "loss/test")
            check_tracker(T.LossTracker(), model, data, steps=range(4), stacked_rtol=4 * eps)


def test_a_tracker_that_declines_to_stack_is_called_on_each_model():
    """Class labels need accuracy rows, which the loss tracker does not stack: stacked() returns None and nothing is compared."""
    data = make_task(ModularConfig(p=7, encoding="onehot"), seed=0)
    rows = check_tracker(T.LossTracker(), build_model(MLPConfig(d_in=14, d_out=7, widths=(8,)), seed=0), data)
    assert {r["observable"] for r in rows} == {"loss/train", "loss/test", "accuracy/train", "accuracy/test"}


def test_the_check_stacks_a_model_without_forward_stacked_model_by_model():
    """An MLP has no forward_stacked: the stacked forward runs torch.func.functional_call on each model's weights."""
    rows = check_tracker(T.LossTracker(), tanh_mlp(), teacher(), stacked_rtol=0.0)
    assert len(rows) == 6


@pytest.mark.parametrize(
    "steps, scale, rtol, message",
    [
        ((0,), 0.01, None, "steps must be a sequence of at least two steps"),
        ((0, 2, 1), 0.01, None, "distinct non-negative integers in increasing order"),
        ((0, 1, 1), 0.01, None, "distinct non-negative integers in increasing order"),
        ((-1, 0), 0.01, None, "distinct non-negative integers"),
        ((0, 1), 0.0, None, "scale must be a positive finite number, got 0.0"),
        ((0, 1), float("nan"), None, "scale must be a positive finite number"),
        ((0, 1), 0.01, -1e-6, "stacked_rtol must be None or in [0, 1), got -1e-06"),
    ],
)
def test_bad_arguments_are_refused_before_the_tracker_runs(steps, scale, rtol, message):
    called = []

    class Counting:
        name = "counting"

        def __call__(self, model, step, data):
            called.append(step)
            return []

    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        check_tracker(Counting(), deep_linear(), teacher(), steps=steps, scale=scale, stacked_rtol=rtol)
    assert called == []


def test_a_name_a_class_a_plain_object_or_no_taskdata_is_refused_with_what_to_pass():
    with pytest.raises(TypeError, match="use bridge.trackers.get_tracker"):
        check_tracker("loss", deep_linear(), teacher())
    with pytest.raises(TypeError, match=r"pass an instance, LossTracker\(\)"):
        check_tracker(T.LossTracker, deep_linear(), teacher())
    with pytest.raises(TypeError, match="model must be an nn.Module, got dict"):
        check_tracker(T.LossTracker(), {}, teacher())
    with pytest.raises(TypeError, match="data must be a TaskData"):
        check_tracker(T.LossTracker(), deep_linear(), None)
