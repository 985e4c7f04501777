"""Circuit graphs: edge weights equal the composition scores, thresholds, changes, JSON round trip, drawing."""

import pytest
import torch

from bridge.models import TransformerConfig, build_model
from bridge.plots.base import new_figure
from bridge.plots.induction import plot_circuit
from probes.circuits import circuit_graph, edges_above, graph_change, node_name, read_graphs, write_graphs
from probes.heads import composition_baseline, composition_scores, head_weights


@pytest.fixture(scope="module")
def weights():
    return head_weights(build_model(TransformerConfig(d_vocab=12, n_ctx=6, d_model=16, n_heads=2, d_head=4, n_layers=3, d_mlp=None), seed=0))


def test_edges_carry_composition_scores_and_z_scores(weights):
    key_path = torch.tensor([[0.1, 0.2], [0.3, 0.4]])
    g = circuit_graph(weights, node_scores={"induction": torch.tensor([[0.0, 0.1], [0.2, 0.3], [0.4, 0.5]])}, key_path=key_path, step=7)
    comp = composition_scores(weights)
    assert g.number_of_nodes() == 6 and g.number_of_edges() == 3 * 4  # layer pairs (0,1), (0,2), (1,2)
    mean, std = composition_baseline(16, 4)
    for (l0, l1) in ((0, 1), (0, 2), (1, 2)):
        for h0 in range(2):
            for h1 in range(2):
                e = g.edges[node_name(l0, h0), node_name(l1, h1)]
                assert e["k_comp"] == pytest.approx(comp["k"][l0, h0, l1, h1].item())
                assert e["v_comp_z"] == pytest.approx((comp["v"][l0, h0, l1, h1].item() - mean) / std)
                assert ("key_path" in e) == ((l0, l1) == (0, 1))
    assert g.edges["L0H1", "L1H0"]["key_path"] == pytest.approx(0.3)
    assert g.nodes["L2H1"]["induction"] == pytest.approx(0.5)
    assert g.graph["step"] == 7


def test_thresholds_and_changes(weights):
    a = circuit_graph(weights, step=0)
    b = circuit_graph(weights, step=1)
    b.edges["L0H0", "L1H1"]["k_comp_z"] = 10.0
    assert ("L0H0", "L1H1") in edges_above(b, "k_comp_z", 5.0)
    change = graph_change(a, b, "k_comp_z", 5.0)
    assert change["added"] == [("L0H0", "L1H1")] and change["removed"] == []
    assert change["delta"]["L0H0->L1H1"] == pytest.approx(10.0 - a.edges["L0H0", "L1H1"]["k_comp_z"])


def test_json_round_trip_and_drawing(weights, tmp_path):
    g = circuit_graph(weights, step=3)
    path = write_graphs(tmp_path / "circuits.json", {3: g})
    back = read_graphs(path)[3]
    assert sorted(back.edges) == sorted(g.edges)
    assert back.edges["L0H0", "L2H1"]["q_comp"] == pytest.approx(g.edges["L0H0", "L2H1"]["q_comp"])
    g.edges["L0H0", "L1H1"]["k_comp_z"] = 9.0
    fig, ax = new_figure()
    plot_circuit(ax, g, threshold=5.0)
    strong = edges_above(g, "k_comp_z", 5.0)
    assert ("L0H0", "L1H1") in strong
    assert len(ax.patches) == len(strong)  # one arrow per edge above threshold
    assert len(ax.collections) == 2  # faint edges and nodes
