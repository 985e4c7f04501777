"""A feature whose weight column is not finite: the probes refuse it by name (it read as not represented, so a
pentagon with a NaN sixth column was a regular pentagon), and a diverging superposition run never reaches them:
training ends first and the case study's report is invalid."""

import math

import pytest
import torch

from bridge.models import ToySuperposition, ToySuperpositionConfig
from bridge.trackers.feature_geometry import FeatureGeometryTracker
from probes.feature_geometry import feature_norms, polygon, represented

ANGLES = torch.arange(5, dtype=torch.float64) * 2 * math.pi / 5
PENTAGON = torch.stack([ANGLES.cos(), ANGLES.sin()])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_feature_with_a_non_finite_weight_is_refused_naming_it(bad, dtype):
    W = torch.cat([PENTAGON, torch.tensor([[0.3], [bad]], dtype=torch.float64)], dim=1).to(dtype)  # feature 5
    for name, probe in (("represented", represented), ("polygon", polygon)):
        with pytest.raises(ValueError, match=rf"{name} needs finite weights: feature\(s\) \[5\] of W hold NaN or infinite weights"):
            probe(W)
    norms = feature_norms(W)  # the norm itself is still read: NaN or inf for that feature, the others kept
    assert (math.isnan(norms[5]) if math.isnan(bad) else norms[5] == math.inf) and torch.allclose(norms[:5].double(), torch.ones(5, dtype=torch.float64), atol=1e-6)
    assert polygon(W[:, :5]).is_regular(5) and represented(W[:, :5]).tolist() == [True] * 5  # the finite features alone


def test_every_non_finite_feature_is_named():
    W = torch.tensor([[1.0, math.nan, 0.0, 2.0], [0.0, 0.0, math.inf, math.nan]])
    with pytest.raises(ValueError, match=r"feature\(s\) \[1, 2, 3\]"):
        represented(W)


def test_the_tracker_refuses_a_model_whose_weights_are_not_finite():
    model = ToySuperposition(ToySuperpositionConfig(n_features=5, n_hidden=2))
    with torch.no_grad():
        model.W.copy_(torch.cat([PENTAGON[:, :4], torch.tensor([[math.nan], [0.0]], dtype=torch.float64)], dim=1)[None].float())
    with pytest.raises(ValueError, match="finite"):
        FeatureGeometryTracker()(model, 0, None)


def test_a_diverging_superposition_run_gives_an_invalid_report_before_any_tracker_reads_its_weights(tmp_path):
    from case_studies.base.runner import run_case_study

    report = run_case_study("superposition", "quick", tmp_path / "sp", device="cpu", progress=False, settings=["train.lr=1e30", "train.steps=20"])
    rows = report.checks + report.matches
    assert [r.passed for r in rows] == [False] and report.extra["diverged"]["run"] == "main" and 0 < report.extra["diverged"]["step"] <= 20
    assert "became" in rows[0].reason and "lower train.lr" in rows[0].reason
