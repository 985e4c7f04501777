"""The oscillation figure of edge-of-stability on synthetic curves: what each panel's title and legend say."""

import matplotlib
import numpy as np

from case_studies.edge_of_stability import Targets, _oscillation_figure, detect_curves

matplotlib.use("Agg")


def _found(lr: float, onset_from: float | None) -> dict:
    """One step size's detections on curves whose ``cos(g, v₁)`` alternates from ``onset_from`` (None: never)."""
    t = np.arange(600.0)
    alt = (-1.0) ** t
    s = np.minimum(3 + 7 * t / 200, 2 / lr)
    cos = 0.01 * alt if onset_from is None else np.where(t < onset_from, 0.01, 0.9) * alt
    return detect_curves(lr, (t, s), (t, np.exp(-t / 300)), (t, cos), Targets())


def test_each_oscillation_panel_says_what_was_detected_in_ascending_step_size():
    fig = _oscillation_figure({"main": _found(0.25, None), "eta_0.2": _found(0.2, 250.0)})
    axes = [ax for ax in fig.axes if ax.get_title()]  # the twin loss axes carry no title
    # the study's own title replaced the detections' title before: a panel with no onset did not say so
    assert [ax.get_title() for ax in axes] == [
        "η=0.2: Period-2 oscillation along v₁ from step 250;\nno loss rise detected",
        "η=0.25: No oscillation onset detected;\nno loss rise detected",
    ]
    assert [len(ax.get_lines()) for ax in axes] == [2, 1]  # the cosine, and the onset line only where one was found
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == ["cos(g, v₁)", "oscillation onset", "training loss"]
