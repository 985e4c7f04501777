"""The figures draw what the analysis observed: on a tiny output of kernel-limit and of quanta, training then
rebuilding the report measures the observations once each (the tangent kernel on the cube and the interpolants over
training sets; the unit-ablation probes on the test split), the figures are drawn, and ``report.json`` holds no
observations."""

from __future__ import annotations

import json

# the quick presets made tiny with settings, as `mechbridge run --set` gives them (a rebuild reads them from run.json)
KERNEL_LIMIT = ["task.d=9", "model.widths=16,16", "train.steps=60", "train.schedule.n_log=3", "train.schedule.every=30", "alphas=10,1,0.1,0.01", "kernel_probes=16", "draws=2"]
QUANTA = ["task.n_bits=8", "task.k_bits=2", "task.n_train=2000", "task.n_test_per_task=64", "widths=4,8,16", "train.steps=200", "train.schedule.every=100", "train.schedule.track_every=25"]


def _counted(monkeypatch, modules, name: str) -> list:
    """Wrap ``name`` in each of ``modules`` (one function under every name it is called by) so each call is counted."""
    calls: list = []
    real = getattr(modules[0], name)

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    for module in modules:
        monkeypatch.setattr(module, name, counting)
    return calls


def _run_and_rebuild(name, settings, out, calls) -> list[int]:
    """Observations measured by the run, then by a rebuild of its report; checks the figures and report.json of both."""
    from case_studies import rebuild_report, run_case_study

    counts = []
    for make in (lambda: run_case_study(name, "quick", out, seed=0, device="cpu", progress=False, settings=settings), lambda: rebuild_report(out)):
        calls.clear()
        report = make()
        counts.append(len(calls))
        data = json.loads((out / "report.json").read_text())
        assert report.observations is None and "observations" not in data and data["figures"] == report.figures
        assert len(report.figures) >= 3 and all((out / f).stat().st_size > 5000 for f in report.figures)
        assert not any(n.startswith("figures not drawn") for n in data["notes"])
    return counts


def test_kernel_limit_figures_reuse_the_observations_of_the_analysis(monkeypatch, tmp_path):
    import case_studies.kernel_limit as study
    import case_studies.kernel_limit.analysis as analysis

    calls = _counted(monkeypatch, [analysis, study], "observe")
    assert _run_and_rebuild("kernel-limit", KERNEL_LIMIT, tmp_path / "out", calls) == [1, 1]


def test_quanta_figures_reuse_the_observations_of_the_analysis(monkeypatch, tmp_path):
    import case_studies.quanta.analysis as analysis

    calls = _counted(monkeypatch, [analysis], "observables")
    assert _run_and_rebuild("quanta", QUANTA, tmp_path / "out", calls) == [1, 1]

