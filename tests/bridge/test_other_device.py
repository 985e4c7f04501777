"""Training and measuring on a device other than the CPU: no tensor left on the CPU, no CPU generator drawing there,
the same numbers as on the CPU, and no read back to the host per step where one at the end does (tests/other_device.py)."""

import contextlib
import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import bridge.training.loop as loop
from bridge.estimators.hessian import hessian_operator, lanczos_top
from bridge.estimators.llc import SGLDConfig, estimate_llc
from bridge.estimators.ntk import empirical_ntk
from bridge.trackers.base import TrackingBuffer
from bridge.training.loop import with_train
from case_studies.base import MAIN, get_case_study
from case_studies.base.runner import online_trackers
from other_device import OTHER, Reads, other_device

STUDIES = {  # case study -> the model kind its main run trains
    "deep-linear": "DeepLinearConfig",
    "edge-of-stability": "MLPConfig",
    "superposition": "ToySuperpositionConfig",
    "induction-heads": "TransformerConfig",
    "grokking": "TransformerConfig",
    "quanta": "MLPConfig",
    "kernel-limit": "LazyConfig",
    "mup": "MLPConfig",
}


NARROWER = {"mup": {"coord_widths": (16, 64, 512)}}
"""Preset changes that only narrow a study's main run: whether a run trains alike on two devices does not depend on
its width, and the μP main run is the coordinate check's widest (8192: 3 checkpoints of 270 MB, 18 s on each device)."""


def _small(name: str, key: str | None = None):
    study = get_case_study(name)
    preset = dataclasses.replace(study.presets.get("tiny") or study.presets["quick"], **NARROWER.get(name, {}))
    configs = study.runs(preset, 0)
    key = key or (MAIN if MAIN in configs else next(iter(configs)))
    cfg = configs[key]
    return study, preset, key, with_train(cfg, steps=2, schedule=dataclasses.replace(cfg.train.schedule, n_log=2, every=0, track_every=0))


def _train(cfg, out, trackers, device, monkeypatch):
    if device == OTHER:
        monkeypatch.setattr(loop, "resolve_device", lambda _: OTHER)
        with other_device():
            return loop.train(cfg, out, trackers=trackers, device="cpu", progress=False)
    return loop.train(cfg, out, trackers=trackers, device="cpu", progress=False)


def _rows(run) -> pd.DataFrame:
    return run.metrics.reset_index(drop=True)


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_a_study_run_trains_on_another_device_as_on_the_cpu(name, tmp_path, monkeypatch):
    study, preset, key, cfg = _small(name)
    assert type(cfg.model).__name__ == STUDIES[name]
    runs = {}
    for device in ("cpu", OTHER):
        runs[device] = _train(cfg, tmp_path / str(device), online_trackers(study, preset, key, 0), device, monkeypatch)
    assert [r.status for r in runs.values()] == ["complete", "complete"]
    cpu, other = _rows(runs["cpu"]), _rows(runs[OTHER])
    assert len(cpu) >= 2 and cpu.columns.tolist() == other.columns.tolist()
    pd.testing.assert_frame_equal(cpu, other, rtol=1e-12, atol=0.0)  # the same operations on the same CPU numbers


@pytest.mark.parametrize("name", ["superposition", "kernel-limit", "edge-of-stability", "grokking"])
def test_a_study_s_offline_trackers_measure_a_checkpoint_on_another_device(name, tmp_path):
    study, preset, key, cfg = _small(name)
    run = loop.train(cfg, tmp_path / "run", device="cpu", progress=False)
    run.update_info(case_seed=0)
    trackers = [t for job in study.offline(preset, key, run) for t in job.trackers]
    assert trackers
    rows = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for device in ("cpu", OTHER):
            with other_device() if device == OTHER else contextlib.nullcontext():
                buffer = TrackingBuffer(trackers, run.task_data(device))
                buffer.track(run.model_at(run.steps[-1], device=device), run.steps[-1])
                rows[device] = pd.DataFrame(buffer.flush())
    assert len(rows["cpu"]) >= 1
    pd.testing.assert_frame_equal(rows["cpu"], rows[OTHER], rtol=1e-4, atol=1e-9)  # Lanczos (ARPACK, tol 1e-5) answers to its tolerance


def _deep_linear(tmp_path):
    _, _, _, cfg = _small("deep-linear")
    run = loop.train(cfg, tmp_path / "run", device="cpu", progress=False)
    return run


def test_the_empirical_ntk_and_the_top_hessian_eigenvalue_on_another_device(tmp_path):
    run = _deep_linear(tmp_path)
    found = {}
    for device in ("cpu", OTHER):
        with other_device() if device == OTHER else contextlib.nullcontext():
            model, data = run.model_at(run.steps[-1], device=device), run.task_data(device)
            x, y = data.train.x[:8], data.train.y[:8]
            kernel = empirical_ntk(model, x, chunk_size=4).cpu()
            with hessian_operator(model, x, y, data.loss_fn) as op:
                top, _ = lanczos_top(op, k=1, generator=torch.Generator().manual_seed(0))
        found[device] = (kernel, float(top[0]))
    assert found["cpu"][0].shape == (8, 8)
    torch.testing.assert_close(found[OTHER][0], found["cpu"][0], rtol=0.0, atol=0.0)
    assert 0.0 < found["cpu"][1] == pytest.approx(found[OTHER][1], rel=1e-12, abs=0.0)


@pytest.mark.parametrize("vectorize", [True, False])
def test_the_llc_estimator_reads_its_loss_trace_back_once(tmp_path, vectorize):
    run = _deep_linear(tmp_path)
    results, reads = {}, {}
    for draws in (4, 12):
        sgld = SGLDConfig(n_chains=2, n_draws=draws, n_burnin=2, step_size=1e-4)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cpu = estimate_llc(run.model_at(run.steps[-1]), run.task_data().loss_fn, run.task_data().train, sgld, seed=3, vectorize=vectorize)
            with other_device():
                model, data = run.model_at(run.steps[-1], device=OTHER), run.task_data(OTHER)
                before = Reads.count
                other = estimate_llc(model, data.loss_fn, data.train, sgld, seed=3, vectorize=vectorize)
                reads[draws] = Reads.count - before
        np.testing.assert_array_equal(other.trace, cpu.trace)
        assert other.mean == cpu.mean and np.isfinite(cpu.mean)
        results[draws] = other
    assert reads[12] == reads[4] and 1 <= reads[4] <= 4  # the initial loss and the trace, whatever the number of draws


def _analysed(name, tmp_path):
    _, _, _, cfg = _small(name)
    return loop.train(cfg, tmp_path / "run", device="cpu", progress=False)


def test_the_quanta_analysis_probes_read_a_checkpoint_on_another_device(tmp_path):
    from probes.quanta import unit_contributions, unit_sharing, walsh_gap
    from probes.quanta_ablation import units_needed

    run = _analysed("quanta", tmp_path)
    found = {}
    for device in ("cpu", OTHER):
        with other_device() if device == OTHER else contextlib.nullcontext():
            model, data = run.model_at(run.steps[-1], device=device), run.task_data(device)
            info, test = data.info, data.test
            task, bits = info["test_task"].to(device), info["subtask_bits"].to(device)
            ranking, needed = units_needed(model, test.x, test.y, task, info["n_tasks"])
            found[device] = (ranking.tolist(), needed.tolist(), repr(unit_sharing(ranking, needed)), walsh_gap(model, test.x, task, bits).tolist(), unit_contributions(model, test.x, task, info["n_tasks"]).tolist())
    assert len(found["cpu"][1]) == run.task_data().info["n_tasks"] >= 2
    assert found[OTHER] == found["cpu"]


def test_the_induction_analysis_probes_read_a_checkpoint_on_another_device(tmp_path):
    from bridge.trackers.induction import evaluation_sets
    from probes.heads import attention_patterns
    from probes.induction import final_causal, head_graph, previous_token_coverage
    from probes.patching_data import corrupted_pair

    run = _analysed("induction-heads", tmp_path)
    found = {}
    for device in ("cpu", OTHER):
        with other_device() if device == OTHER else contextlib.nullcontext():
            data = run.task_data(device)
            sets = evaluation_sets(data, 16, device)
            corrupted = corrupted_pair(sets["test"], run.config.task.d_vocab, 0).corrupted
            model = run.model_at(run.steps[-1], device=device)
            graph = head_graph(model, sets["test"][:4], corrupted[:4], run.steps[-1])
            causal = final_causal(model, sets, corrupted, 0, min_loss=0.1, max_induction=0.5)
            coverage = previous_token_coverage(model, sets, data.info, 0)
            found[device] = (sorted(graph.edges(data=True)) if hasattr(graph, "edges") else repr(graph), repr(causal), repr(coverage), attention_patterns(model, sets["test"][:2]).cpu())
    *same, patterns = found[OTHER]
    assert same == list(found["cpu"][:3])
    torch.testing.assert_close(patterns, found["cpu"][3], rtol=0.0, atol=0.0)


def test_fresh_sample_fits_of_toy_models_run_on_another_device():
    from bridge.models.toy_superposition import ToySuperposition, ToySuperpositionConfig, fit_fresh_samples, instance_losses

    found = {}
    for device in ("cpu", OTHER):
        with other_device() if device == OTHER else contextlib.nullcontext():
            net = ToySuperposition(ToySuperpositionConfig(n_features=3, n_hidden=2, n_instances=2), seed=0).to(device)
            history = fit_fresh_samples(net, torch.ones(2, 3), torch.tensor([1.0, 0.1]), steps=20, batch_size=16).cpu()
            reads = Reads.count
            found[device] = (history, instance_losses(net, torch.ones(2, 3), torch.tensor([1.0, 0.1]), batch_size=64).cpu(), reads)
    torch.testing.assert_close(found[OTHER][0], found["cpu"][0], rtol=0.0, atol=0.0)
    torch.testing.assert_close(found[OTHER][1], found["cpu"][1], rtol=0.0, atol=0.0)
    assert found["cpu"][0].shape == (20,) and found[OTHER][2] == 1  # the history, read once at the end
