"""The ``grokking`` study's figures: losses with the phases, the embedding's spectrum at the phase boundaries,
frequency emergence (main run and AGF), and the sweep's power-law fit."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from bridge.plots.base import new_figure, plot_curves, save_figure
from bridge.plots.fourier import plot_emergence, plot_phase_bands, plot_power_law, plot_spectrum
from bridge.report import BridgeReport
from bridge.runs.run import Run
from bridge.stages.detectors import Stage
from bridge.theory import agf
from bridge.theory.weight_decay import PowerLawFit
from case_studies.grokking.analysis import agf_template


def figures(runs: Mapping[str, Run], report: BridgeReport) -> list[str]:
    """Losses with phase bands; W_E spectra at the phase boundaries; frequency emergence (main and AGF); the sweep's fit.

    Examples:
        >>> from bridge import load_run; from case_studies import rebuild_report  # doctest: +SKIP
        >>> figures({"main": load_run("runs/grokking")}, rebuild_report("runs/grokking"))  # paths relative to the main run  # doctest: +SKIP
    """
    run = runs["main"]
    folder, stages, keys = run.figures_dir, [e for e in report.events if isinstance(e, Stage)], report.extra["key_frequencies"]
    fig, axes = new_figure(ncols=2, size=(5.5, 3.8))
    curves = {name: run.curve(obs) for name, obs in (("train", "loss/train"), ("test", "loss/test"), ("restricted", "fourier/restricted_loss"), ("excluded", "fourier/excluded_loss"))}
    plot_phase_bands(plot_curves(axes[0], curves, ylabel="cross-entropy", logy=True, title="Losses and grokking phases"), stages)
    (t_w, w), gini = run.curve("weights/norm"), run.curve("fourier/embed_gini")
    plot_phase_bands(plot_curves(axes[1], {"weight norm": (t_w, w / w.max()), "Gini of W_E Fourier norms": gini}, ylabel="weight norm / its max; Gini", title="Weight norm and Fourier sparsity"), stages)
    paths = [save_figure(fig, folder / "losses_phases.png")]

    table = run.table("fourier/embed_norm", "frequency")
    t_n, norms = table.index.to_numpy(float), table.to_numpy(float)
    idx = sorted({int(np.argmin(np.abs(t_n - c))) for c in [0.0] + [s.end for s in stages] + [t_n[-1]]})
    fig, ax = new_figure(size=(9, 3.6))
    plot_spectrum(ax, {f"step {int(t_n[i])}": norms[i] for i in idx}, key=keys, title="Fourier spectrum of W_E at the phase boundaries and the end (* key frequencies)")
    paths.append(save_figure(fig, folder / "embedding_spectrum.png"))
    fig, axes = new_figure(ncols=2, size=(5.5, 3.8))
    plot_phase_bands(plot_emergence(axes[0], t_n, norms, keys[:8], title="Main run: W_E frequency norms"), stages)
    if "agf" in runs:
        table = runs["agf"].table("fourier/embed_norm", "frequency")
        order = agf.magnitude_order(agf_template(runs["agf"]))
        plot_emergence(axes[1], table.index.to_numpy(float), table.to_numpy(float), order, events=report.extra["agf"]["predicted_steps"], title="AGF: quadratic net (dotted: predicted)")
    paths.append(save_figure(fig, folder / "frequency_emergence.png"))
    if "fit" in report.extra.get("sweep", {}):
        ok = [r for r in report.extra["sweep"]["points"] if r["grok_step"] is not None]
        fig, ax = new_figure(size=(5.5, 4.0))
        plot_power_law(ax, [r["lr_wd"] for r in ok], [r["grok_step"] for r in ok], PowerLawFit(**report.extra["sweep"]["fit"]), labels=[f"wd {r['weight_decay']:g}, lr {r['lr']:g}" for r in ok], title="Grokking step vs lr·wd (sweep)")
        paths.append(save_figure(fig, folder / "sweep_fit.png"))
    return [str(p.relative_to(run.path)) for p in paths]
