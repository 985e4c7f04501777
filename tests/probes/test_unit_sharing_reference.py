"""unit_sharing against a loop over subtasks and units, under renumbered subtasks; counts of another length refused."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.quanta import unit_sharing


def _reference(ranking: torch.Tensor, needed: torch.Tensor) -> dict[str, float]:
    width = ranking.shape[1]
    counted = [k for k in range(ranking.shape[0]) if 0 < int(needed[k]) <= width]
    used = {}
    for k in counted:
        for u in ranking[k, : int(needed[k])].tolist():
            used.setdefault(u, set()).add(k)
    if not counted:
        return {"monogenic_share": float("nan"), "units_per_subtask": float("nan"), "units_used": 0.0, "subtasks": 0.0}
    return {
        "monogenic_share": sum(len(s) == 1 for s in used.values()) / len(used),
        "units_per_subtask": sum(int(needed[k]) for k in counted) / len(counted),
        "units_used": float(len(used)),
        "subtasks": float(len(counted)),
    }


@settings(max_examples=40, deadline=None)
@given(n_tasks=st.integers(1, 5), width=st.integers(1, 6), seed=st.integers(0, 10_000), data=st.data())
def test_unit_sharing_equals_a_loop_and_ignores_the_order_of_the_subtasks(n_tasks, width, seed, data):
    g = torch.Generator().manual_seed(seed)
    ranking = torch.stack([torch.randperm(width, generator=g) for _ in range(n_tasks)])
    needed = torch.tensor(data.draw(st.lists(st.integers(0, width + 1), min_size=n_tasks, max_size=n_tasks)))
    got, ref = unit_sharing(ranking, needed), _reference(ranking, needed)
    assert got.keys() == ref.keys()
    for key in ref:
        assert got[key] == pytest.approx(ref[key], abs=1e-12, nan_ok=True)
    order = torch.randperm(n_tasks, generator=g)
    moved = unit_sharing(ranking[order], needed[order])
    for key in ref:
        assert moved[key] == pytest.approx(got[key], abs=1e-12, nan_ok=True)


@pytest.mark.parametrize("needed", [torch.tensor([1, 1, 1]), torch.tensor([1]), torch.tensor([[1, 1]]), torch.tensor(1)])
def test_unit_sharing_refuses_counts_that_are_not_one_per_subtask(needed):
    ranking = torch.tensor([[0, 1], [1, 0]])
    # three counts failed on an index; one count silently dropped the second subtask
    with pytest.raises(ValueError, match=r"needed must hold one count per subtask \(row\) of ranking \(2, 2\), got needed of shape " + str(tuple(needed.shape)).replace("(", r"\(").replace(")", r"\)")):
        unit_sharing(ranking, needed)
