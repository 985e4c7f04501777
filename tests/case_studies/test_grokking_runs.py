"""Trained models: the Fourier tracker on real runs, the random-label control, the case study's contract on a
tiny preset, and the quick preset end to end (with the page's notebook block)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from bridge.config import ConfigError, RunConfig, ScheduleConfig, TrainConfig
from bridge.models import MLPConfig, TransformerConfig, build_model
from bridge.tasks import make_task
from bridge.tasks.modular import ModularConfig
from bridge.trackers.fourier import FourierTracker
from bridge.training.loop import train
from helpers import page_block, run_python
from page_checks import grokking_page
from probes.fourier import frequency_norms, key_frequencies, top_share
from probes.modular import residue_embedding

ROOT = Path(__file__).resolve().parents[2]


def test_tracker_full_loss_equals_training_loss_and_rows_are_complete():
    p = 13
    data = make_task(ModularConfig(p=p, train_fraction=0.5), seed=0)
    model = build_model(TransformerConfig(d_vocab=p + 1, n_ctx=3, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab_out=p), seed=0)
    rows = FourierTracker(key_frequencies=(1, 2))(model, 0, data)
    by_name = {r["observable"]: r["value"] for r in rows if "frequency" not in r}
    with torch.no_grad():
        loss = data.loss_fn(model(data.train.x), data.train.y).item()
    assert by_name["fourier/full_loss"] == pytest.approx(loss, rel=1e-5)
    assert sum(1 for r in rows if r["observable"] == "fourier/embed_norm") == p // 2 + 1
    assert sum(1 for r in rows if r["observable"] == "fourier/neuron_count") == p // 2
    embed = frequency_norms(model.state_dict()["embed.weight"][:p])
    emb_rows = sorted((r["frequency"], r["value"]) for r in rows if r["observable"] == "fourier/embed_norm")
    assert [v for _, v in emb_rows] == pytest.approx(embed.tolist(), rel=1e-9)
    total = sum(v**2 for r in rows if r["observable"] == "weights/norm" for v in [r["value"]])
    assert total == pytest.approx(sum(float((t.detach().double() ** 2).sum()) for t in model.parameters()), rel=1e-9)


def test_random_labels_memorised_by_quadratic_mlp_never_give_a_sparse_spectrum():
    p = 59
    data = make_task(ModularConfig(p=p, train_fraction=0.4, encoding="onehot", random_labels=True), seed=0)
    net = build_model(MLPConfig(d_in=2 * p, d_out=p, widths=(256,), activation="quadratic", bias=False), seed=0)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, betas=(0.9, 0.98), weight_decay=1.0)
    shares, n_keys = [], []
    for step in range(400):
        opt.zero_grad()
        data.loss_fn(net(data.train.x), data.train.y).backward()
        opt.step()
        if step % 50 == 49:
            norms = frequency_norms(residue_embedding(net, p))
            shares.append(top_share(norms, 8))
            n_keys.append(len(key_frequencies(norms, 0.8)))
    with torch.no_grad():
        acc = (net(data.train.x).argmax(-1) == data.train.y).float().mean().item()
    assert acc > 0.99  # it memorised
    assert max(shares) < 0.5 and min(n_keys) > 8


@pytest.mark.slow
def test_random_labels_memorised_by_transformer_never_give_a_sparse_spectrum(tmp_path):
    p = 59
    cfg = RunConfig(
        ModularConfig(p=p, train_fraction=0.4, random_labels=True),
        TransformerConfig(d_vocab=p + 1, n_ctx=3, d_model=64, n_heads=4, d_head=16, d_mlp=256, d_vocab_out=p),
        TrainConfig(optimizer="adamw", lr=3e-3, steps=1000, weight_decay=2.0, betas=(0.9, 0.98), schedule=ScheduleConfig(n_log=5, every=100)),
        seed=0,
    )
    run = train(cfg, tmp_path / "random", trackers=[FourierTracker(neurons=False, logits=False)], device="cpu", progress=False)
    assert run.observable("accuracy/train").iloc[-1] > 0.99
    share = run.observable("fourier/embed_top_share")
    assert share.max() < 0.5, share.to_dict()
    assert run.observable("fourier/embed_n_key").min() > 8


@pytest.mark.slow
def test_grokking_quick_preset_end_to_end(tmp_path):
    from case_studies import run_case_study

    out = tmp_path / "g"
    report = run_case_study("grokking", "quick", out, seed=0, device="cpu", progress=False)
    saved = json.loads((out / "report.json").read_text())
    assert saved["verdict"] == report.verdict
    rows = {r["name"] if "name" in r else r["prediction"]: r for r in saved["checks"] + saved["matches"]}
    assert all(r["claim"] and r["source"] for r in rows.values() if r["counted"])
    assert rows["the run generalised"]["passed"] and not saved["failed_preconditions"]
    # seed 0 groks ~10x after memorising, its circuit forms before clean-up, its embedding is Fourier-sparse, and the
    # AGF network learns each frequency within 20% of the predicted step, in order
    for name in ("test acc > 95% step / train acc > 99% step", "restricted loss falls before test loss (half-drop steps)",
                 "excluded loss rise over circuit formation (end / start)", "share of final embedding Fourier norm² in the top 8 frequencies",
                 "AGF: frequencies emerge in the weights in the predicted order", "AGF: frequencies emerge in the weights in order of target magnitude"):
        assert rows[name]["passed"], rows[name]
    assert rows["test acc > 95% step / train acc > 99% step"]["value"] >= 3
    assert all(m["passed"] and m["relative_error"] <= 0.2 for m in saved["matches"] if m["prediction"].startswith("AGF"))
    # the grokking step does not scale as 1/(lr·wd) here: −1 lies below the 95% interval, the claim fails
    fit = report.extra["sweep"]["fit"]
    assert fit["ci_high"] < -0.1 and -1 < fit["ci_low"], fit
    sweep_row = "sweep: exponent of grokking step vs lr·wd (theory: -1)"
    assert not rows[sweep_row]["passed"] and sweep_row in saved["failed_claims"]
    # the W_E Gini half-rise lags the test-loss half-drop by about its 0.5 tolerance (1.5x the step); which side
    # depends on float rounding, so only the verdict's bookkeeping is asserted for it
    assert set(saved["failed_claims"]) <= {sweep_row, "W_E Gini half-rise with the test-loss half-drop"}
    assert report.verdict == "partial"
    assert saved["figures"] == ["figures/losses_phases.png", "figures/embedding_spectrum.png", "figures/frequency_emergence.png", "figures/sweep_fit.png"]
    assert all((out / fig).exists() for fig in saved["figures"])
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(["agf", "sweep_lr3e-3_wd0.5", "sweep_lr3e-3_wd1", "sweep_lr3e-3_wd2", "sweep_lr3e-3_wd4", "sweep_lr1.5e-3_wd1", "sweep_lr6e-3_wd1"])

    # the notebook block of the case study's page runs on this output
    done = run_python(page_block("case_studies/grokking.md", '"runs/grokking"', out), 300)
    first, second = done.stdout.splitlines()
    assert re.fullmatch(r"restricted loss \d+\.\d\d -> \d\.\d{3}", second), second
    assert first.startswith(f"key frequencies {saved['key_frequencies']}: ")
    start, end = map(float, re.findall(r"\d\.\d\d", first.split(": ")[1]))
    assert start < 0.5 and end >= 0.8  # the key set carries 80% of the final norm², far less at initialisation
    grokking_page(out)  # the page's seed-0 row and statements are this run's


def _tiny_preset():
    from case_studies.grokking import AGFRun, GrokkingPreset, SweepRuns, Targets

    return GrokkingPreset(  # p = 13 has 6 frequencies (the default n_top of 8 would be all of them); the sweep has one weight decay
        task=ModularConfig(p=13, train_fraction=0.5),
        model=TransformerConfig(d_vocab=14, n_ctx=3, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab_out=13),
        train=TrainConfig(optimizer="adamw", lr=1e-2, steps=150, weight_decay=1.0, betas=(0.9, 0.98), schedule=ScheduleConfig(n_log=3, every=50, track_every=10)),
        agf=AGFRun(train=TrainConfig(optimizer="gd", lr=2.0, steps=200, schedule=ScheduleConfig(n_log=2, every=100, track_every=20))),
        sweep=SweepRuns(task=ModularConfig(p=7, train_fraction=0.5, encoding="onehot"), train=dataclasses.replace(SweepRuns.train, steps=40), points=((3e-3, 1.0), (6e-3, 1.0))),
        targets=Targets(n_top=3, sweep_weight_decays=1),
    )


def test_case_study_contract_on_a_tiny_preset(tmp_path, monkeypatch):
    # every run lands at its key; the offline Fourier job measures every checkpoint with the final key set;
    # analysing the loaded runs again reproduces the report; the figures draw the runs' curves, phases and spectra
    from bridge.runs.run import load_run
    from bridge.stages.detectors import Stage
    from case_studies import get_case_study, run_case_study
    from case_studies.grokking import figures as grokking_figures

    drawn = {}
    monkeypatch.setattr(grokking_figures, "save_figure", lambda fig, path, **kw: drawn.setdefault(Path(path).name, fig) and Path(path))
    out = tmp_path / "tiny"
    report = run_case_study("grokking", _tiny_preset(), out, seed=0, device="cpu", progress=False)
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["agf", "sweep_lr3e-3_wd1", "sweep_lr6e-3_wd1"]
    main = load_run(out)
    assert main.info["case_study"] == "grokking" and main.info["case_seed"] == 0
    final = frequency_norms(residue_embedding(main.model_at(main.steps[-1]), 13))
    keys = key_frequencies(final, 0.8)
    assert report.extra["key_frequencies"] == keys and keys
    n_key = main.observable("fourier/n_key")
    assert list(n_key.index) == main.steps and set(n_key) == {len(keys)}
    restricted = main.observable("fourier/restricted_loss")
    assert list(restricted.index) == main.steps and (restricted > 0).all()
    assert [m.prediction.split(" (")[0] for m in report.matches if m.prediction.startswith("AGF")] == [f"AGF: frequency {k}" for k in (3, 1, 6, 2)]
    agf_events = load_run(out / "runs" / "agf").events
    assert sorted(e["name"] for e in agf_events if e["type"] == "prediction") == sorted(f"frequency {k} acquired" for k in (3, 1, 6, 2))
    assert [(r["lr"], r["weight_decay"]) for r in report.extra["sweep"]["points"]] == [(3e-3, 1.0), (6e-3, 1.0)]
    study = get_case_study("grokking")
    again = study.analyse({key: load_run(out if key == "main" else out / "runs" / key) for key in study.runs(_tiny_preset(), 0)}, _tiny_preset())
    assert again.checks == report.checks and again.matches == report.matches and json.loads((out / "report.json").read_text())["verdict"] == again.verdict

    assert sorted(drawn) == ["embedding_spectrum.png", "frequency_emergence.png", "losses_phases.png"]
    stages = [e for e in report.events if isinstance(e, Stage)]
    losses, norms = drawn["losses_phases.png"].axes
    assert [line.get_label() for line in losses.lines] == ["train", "test", "restricted", "excluded"]
    np.testing.assert_allclose(losses.lines[2].get_ydata(), restricted.to_numpy())
    assert len(losses.patches) == len(norms.patches) == len(stages)
    assert max(norms.lines[0].get_ydata()) == pytest.approx(1.0)  # the weight norm over its maximum
    assert norms.get_ylabel() == "weight norm / its max; Gini"  # the axis holds both curves, not the norm alone
    (spectrum,) = drawn["embedding_spectrum.png"].axes
    assert spectrum.containers[0].get_label() == "step 0" and spectrum.containers[-1].get_label() == f"step {main.steps[-1]}"
    np.testing.assert_allclose([bar.get_height() for bar in spectrum.containers[-1]], final.numpy()[1:], rtol=1e-9)
    assert sum(text.get_text() == "*" for text in spectrum.texts) == len(keys)
    main_emergence, agf_emergence = drawn["frequency_emergence.png"].axes
    assert [line.get_label() for line in main_emergence.lines if line.get_label().startswith("k =")] == [f"k = {k}" for k in keys[:8]]
    predicted = sorted(line.get_xdata()[0] for line in agf_emergence.lines if line.get_linestyle() == ":")
    assert predicted == pytest.approx(sorted(report.extra["agf"]["predicted_steps"].values()))


def test_run_keys_follow_the_sweep_points():
    from case_studies import get_case_study
    from case_studies.grokking import PRESETS, AGFRun, SweepRuns, sweep_key

    assert sweep_key(3e-3, 0.5) == "sweep_lr3e-3_wd0.5" and sweep_key(5e-4, 4.0) == "sweep_lr5e-4_wd4"
    quick = PRESETS["quick"]
    configs = get_case_study("grokking").runs(quick, seed=1)
    assert list(configs) == ["main", "agf", *(sweep_key(lr, wd) for lr, wd in quick.sweep.points)]
    assert [(c.train.lr, c.train.weight_decay) for k, c in configs.items() if k.startswith("sweep_")] == list(quick.sweep.points)
    assert (configs["main"].model.d_vocab, configs["agf"].model.d_in, configs["agf"].model.d_out) == (60, 34, 17)
    assert {c.seed for c in configs.values()} == {1}
    with pytest.raises(ConfigError, match="agf run .* momentum=0.9"):  # AGF is gradient flow
        AGFRun(train=dataclasses.replace(AGFRun().train, momentum=0.9))
    with pytest.raises(ConfigError, match="distinct"):
        SweepRuns(points=((3e-3, 1.0), (3e-3, 1.0)))
