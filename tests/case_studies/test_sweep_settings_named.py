"""A sweep setting of a case study given through ``--set`` with a value it cannot use is refused naming the path
typed and showing the value received: edge-of-stability's ``other_lrs``, kernel-limit's ``alphas`` and ``task.subsets``."""

from __future__ import annotations

import pytest

from bridge.config import ConfigError
from bridge.overrides import apply
from case_studies.base import get_case_study


def _refused(study: str, setting: str) -> str:
    with pytest.raises(ConfigError) as refused:
        apply(get_case_study(study).presets["quick"], [setting])
    return str(refused.value)


@pytest.mark.parametrize(
    "text, shown",
    [("0.2,-1", "(0.2, -1.0)"), ("0", "(0.0,)"), ("0.18", "(0.18,)"), ("0.2,0.2", "(0.2, 0.2)"), ("0.25,0.2500000001", "(0.25, 0.2500000001)")],
)
def test_edge_of_stability_other_lrs_refused_naming_other_lrs_and_its_value(text, shown):
    """Non-positive, equal to the main run's ``train.lr`` (0.18 in quick) or equal to each other (their run keys)."""
    message = _refused("edge-of-stability", f"other_lrs={text}")
    assert message.startswith("other_lrs must be") and message.endswith(f"got {shown}"), message


@pytest.mark.parametrize(
    "text, shown",
    [("1,2,3", "(1.0, 2.0, 3.0)"), ("100,10,1,0", "(100.0, 10.0, 1.0, 0.0)"), ("100,10,1,1.0000001", "(100.0, 10.0, 1.0, 1.0000001)"), ("100,10,1,0.5", "(100.0, 10.0, 1.0, 0.5)")],
)
def test_kernel_limit_alphas_refused_naming_alphas_and_its_value(text, shown):
    """Fewer than four, not positive, equal to 6 digits (their run keys), or spanning less than three decades."""
    message = _refused("kernel-limit", f"alphas={text}")
    assert message.startswith("alphas must") and message.endswith(shown), message


@pytest.mark.parametrize("text, shown, terms", [("[[0],[1]]", "((0,), (1,))", 2), ("[[0],[0,1],[0,1,2],[3]]", "((0,), (0, 1), (0, 1, 2), (3,))", 4)])
def test_kernel_limit_subsets_of_another_count_than_the_coefficients_are_refused_naming_subsets_first(text, shown, terms):
    """The task is checked before the preset, and names the subsets (what was typed) before the coefficients."""
    message = _refused("kernel-limit", f"task.subsets={text}")
    assert message.startswith(f"boolean_cube.subsets={shown} gives {terms} Walsh functions but coefficients=(1.0, 1.0, 1.0) has 3 entries"), message


def test_the_sweeps_of_the_quick_presets_are_accepted_as_they_are():
    eos = apply(get_case_study("edge-of-stability").presets["quick"], ["other_lrs=0.25,0.14"])
    kernel = apply(get_case_study("kernel-limit").presets["quick"], ["alphas=100,10,1,0.1", "task.subsets=[[0],[0,1],[1,2]]"])
    assert eos.lrs == (0.18, 0.25, 0.14) and kernel.alphas == (100.0, 10.0, 1.0, 0.1) and kernel.support == (0, 1, 2)
