"""same_circuit: isomorphism of thresholded head graphs up to relabelling heads within a layer."""

import dataclasses

import networkx as nx
import pytest
import torch

from bridge.models import TransformerConfig, build_model
from probes.circuits import circuit_graph, edges_above, node_name, same_circuit
from probes.heads import head_weights

PERM = [[2, 0, 1], [1, 2, 0], [0, 2, 1]]  # new head index of old head h in each layer


@pytest.fixture(scope="module")
def weights():
    return head_weights(build_model(TransformerConfig(d_vocab=12, n_ctx=6, d_model=16, n_heads=3, d_head=4, n_layers=3, d_mlp=None), seed=0))


def scores():
    return {"induction": torch.tensor([[0.0, 0.1, 0.2], [0.3, 0.4, 0.5], [0.6, 0.7, 0.8]]), "previous_token": torch.tensor([[0.9, 0.1, 0.1], [0.0, 0.0, 0.2], [0.1, 0.0, 0.0]])}


def permuted(weights, perm):
    """The same network with heads renumbered: old head h of layer l becomes head perm[l][h]."""
    order = torch.tensor([[row.index(new) for new in range(len(row))] for row in perm])  # old head at each new index
    pick = lambda w: torch.stack([w[layer, order[layer]] for layer in range(w.shape[0])])
    return dataclasses.replace(weights, W_Q=pick(weights.W_Q), W_K=pick(weights.W_K), W_V=pick(weights.W_V), W_O=pick(weights.W_O)), {k: pick(v) for k, v in scores().items()}


def test_threshold_keeps_a_real_circuit(weights):
    g = circuit_graph(weights, node_scores=scores())
    threshold = sorted(d["k_comp_z"] for *_, d in g.edges(data=True))[-4]  # the 4 strongest K-composition edges
    assert len(edges_above(g, "k_comp_z", threshold)) == 4


def test_heads_permuted_within_layers_are_the_same_circuit_with_the_permutation_as_mapping(weights):
    g1 = circuit_graph(weights, node_scores=scores())
    w2, s2 = permuted(weights, PERM)
    g2 = circuit_graph(w2, node_scores=s2)
    threshold = sorted(d["k_comp_z"] for *_, d in g1.edges(data=True))[-4]
    expected = {node_name(layer, h): node_name(layer, PERM[layer][h]) for layer in range(3) for h in range(3)}
    assert g2.edges[expected["L0H0"], expected["L1H2"]]["k_comp_z"] == pytest.approx(g1.edges["L0H0", "L1H2"]["k_comp_z"], rel=1e-5)
    assert same_circuit(g1, g2, threshold=threshold, node_tolerance=0.01, edge_tolerance=1e-4) == expected
    # without node scores the edges alone fix the mapping for the heads they touch
    loose = same_circuit(g1, g2, threshold=threshold, node_tolerance=None)
    assert loose is not None
    for u, v in edges_above(g1, "k_comp_z", threshold):
        assert g2.has_edge(loose[u], loose[v]) and g2.edges[loose[u], loose[v]]["k_comp_z"] >= threshold
    assert all(g1.nodes[a]["layer"] == g2.nodes[b]["layer"] for a, b in loose.items())


def test_one_removed_edge_or_a_changed_score_is_not_the_same_circuit(weights):
    g1 = circuit_graph(weights, node_scores=scores())
    threshold = sorted(d["k_comp_z"] for *_, d in g1.edges(data=True))[-4]
    assert same_circuit(g1, g1.copy(), threshold=threshold) == {n: n for n in sorted(g1.nodes)}
    u, v = min(edges_above(g1, "k_comp_z", threshold))
    removed = g1.copy()
    removed.remove_edge(u, v)
    assert same_circuit(g1, removed, threshold=threshold, node_tolerance=None) is None
    below = g1.copy()
    below.edges[u, v]["k_comp_z"] = threshold - 1e-3
    assert same_circuit(g1, below, threshold=threshold, node_tolerance=None) is None
    shifted = g1.copy()
    shifted.nodes["L2H0"]["induction"] += 0.2
    assert same_circuit(g1, shifted, threshold=threshold, node_tolerance=0.1) is None
    assert same_circuit(g1, shifted, threshold=threshold, node_tolerance=0.25) is not None
    assert same_circuit(g1, shifted, threshold=threshold, node_tolerance={"previous_token": 0.01}) is not None
    # edge values beyond the edge tolerance do not match
    moved = g1.copy()
    moved.edges[u, v]["k_comp_z"] += 1.0
    assert same_circuit(g1, moved, threshold=threshold, edge_tolerance=0.5) is None
    assert same_circuit(g1, moved, threshold=threshold, edge_tolerance=1.5) is not None


def layered(layers, scores_by_node=None, edges=()):
    g = nx.DiGraph()
    for name, layer in layers.items():
        g.add_node(name, layer=layer, **(scores_by_node or {}).get(name, {}))
    for u, v in edges:
        g.add_edge(u, v, k_comp_z=5.0)
    return g


def test_heads_in_different_layers_never_match():
    # the same unlabelled shape (a -> b, plus a lone head), but the lone head sits in another layer
    g1 = layered({"L0H0": 0, "L0H1": 0, "L1H0": 1}, edges=[("L0H0", "L1H0")])
    g2 = layered({"L0H0": 0, "L1H0": 1, "L1H1": 1}, edges=[("L0H0", "L1H0")])
    assert nx.is_isomorphic(g1, g2)
    assert same_circuit(g1, g2, node_tolerance=None) is None
    # scores that would pair heads across layers do not
    g3 = layered({"L0H0": 0, "L1H0": 1}, {"L0H0": {"induction": 0.9}, "L1H0": {"induction": 0.1}})
    g4 = layered({"L0H0": 0, "L1H0": 1}, {"L0H0": {"induction": 0.1}, "L1H0": {"induction": 0.9}})
    assert same_circuit(g3, g4) is None
    assert same_circuit(g3, g4, node_tolerance=None) == {"L0H0": "L0H0", "L1H0": "L1H0"}


def test_bad_graphs_are_named():
    g = layered({"L0H0": 0, "L1H0": 1}, edges=[("L0H0", "L1H0")])
    bare = nx.DiGraph([("a", "b")])
    with pytest.raises(ValueError, match="'layer'"):
        same_circuit(g, bare)
    with pytest.raises(ValueError, match="q_comp_z"):
        same_circuit(g, g, attribute="q_comp_z")


def test_a_tolerance_on_a_score_no_head_carries_is_refused_rather_than_matching_nothing(weights):
    g = circuit_graph(weights, node_scores=scores())
    assert same_circuit(g, g, node_tolerance={"induction": 0.01}) is not None
    with pytest.raises(ValueError, match=r"node_tolerance names \['inductoin'\], which no node of g1 carries"):
        same_circuit(g, g, node_tolerance={"induction": 0.01, "inductoin": 0.01})  # used to return None: not the same circuit as itself
    bare = circuit_graph(weights)
    with pytest.raises(ValueError, match=r"node_tolerance names \['induction'\], which no node of g2 carries"):
        same_circuit(g, bare, node_tolerance={"induction": 0.01})
