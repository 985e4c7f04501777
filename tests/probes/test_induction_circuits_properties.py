"""Property tests of the induction demand and of circuit graphs: the share of sequences needing each key against a loop
over sequences and positions; same_circuit unchanged when the heads of a layer are renumbered, and its answers on
hand-built circuits; thresholds and changes of a graph against loops over its edges."""

from __future__ import annotations

import networkx as nx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.circuits import edges_above, graph_change, node_name, same_circuit, thresholded
from probes.induction import previous_token_demand

PROPERTY = settings(max_examples=25, deadline=None, database=None)


@PROPERTY
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(1, 6)), min_size=1, max_size=8), st.integers(1, 16))
def test_previous_token_demand_equals_a_loop_over_sequences_and_positions(sequences, n_ctx):
    prefix = torch.tensor([p for p, _ in sequences])
    period = torch.tensor([b for _, b in sequences])
    demand = previous_token_demand(prefix, period, n_ctx)
    assert demand.shape == (n_ctx,)
    for q in range(n_ctx):
        needed = sum(1 for p, b in sequences if p + 1 <= q <= p + b)  # the key after the first occurrence of a repeated token
        assert float(demand[q]) == pytest.approx(needed / len(sequences), abs=1e-6)
        assert 0.0 <= float(demand[q]) <= 1.0
    assert float(demand[0]) == 0.0  # no token comes before position 0


def test_previous_token_demand_refuses_prefixes_and_periods_of_different_lengths_by_name():
    """A length-one period used to be broadcast against three prefixes, and empty tensors gave a row of NaN."""
    with pytest.raises(ValueError, match="prefix and period must have one entry per sequence each, got lengths 3 and 1"):
        previous_token_demand(torch.tensor([0, 1, 2]), torch.tensor([2]), n_ctx=6)
    with pytest.raises(ValueError, match=r"prefix must be a non-empty 1-D tensor"):
        previous_token_demand(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long), n_ctx=6)
    with pytest.raises(ValueError, match=r"period must be a non-empty 1-D tensor, one entry per sequence, got torch.Size\(\[1, 2\]\)"):
        previous_token_demand(torch.tensor([0, 1]), torch.tensor([[2, 3]]), n_ctx=6)
    with pytest.raises(ValueError, match="n_ctx must be at least 1, got 0"):
        previous_token_demand(torch.tensor([0]), torch.tensor([2]), n_ctx=0)


def random_graph(seed: int, n_layers: int, n_heads: int, density: float) -> nx.DiGraph:
    """A head graph with every forward edge carrying a ``k_comp_z`` (a share ``density`` of them above 3) and distinct node scores."""
    g = torch.Generator().manual_seed(seed)
    graph = nx.DiGraph()
    scores = torch.randperm(n_layers * n_heads, generator=g).float() / 10  # distinct, at least 0.1 apart
    for layer in range(n_layers):
        for head in range(n_heads):
            graph.add_node(node_name(layer, head), layer=layer, head=head, induction=float(scores[layer * n_heads + head]))
    for l0 in range(n_layers):
        for l1 in range(l0 + 1, n_layers):
            for h0 in range(n_heads):
                for h1 in range(n_heads):
                    strong = float(torch.rand((), generator=g)) < density
                    value = 3.0 + 4.0 * float(torch.rand((), generator=g)) if strong else 3.0 * float(torch.rand((), generator=g)) - 0.5
                    graph.add_edge(node_name(l0, h0), node_name(l1, h1), k_comp_z=value)
    return graph


def relabelled(graph: nx.DiGraph, perm: list[list[int]]) -> tuple[nx.DiGraph, dict[str, str]]:
    """The same graph with head h of layer l renamed head perm[l][h]; the map from old names to new."""
    mapping = {node_name(layer, h): node_name(layer, perm[layer][h]) for layer in range(len(perm)) for h in range(len(perm[layer]))}
    out = nx.relabel_nodes(graph, mapping, copy=True)
    for new in mapping.values():
        out.nodes[new]["head"] = int(new.split("H")[1])
    return out, mapping


@st.composite
def graph_and_permutation(draw):
    n_layers, n_heads = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    seed, density = draw(st.integers(0, 2**31 - 1)), draw(st.floats(0.0, 1.0))
    perm = [draw(st.permutations(range(n_heads))) for _ in range(n_layers)]
    return random_graph(seed, n_layers, n_heads, density), [list(p) for p in perm]


@PROPERTY
@given(graph_and_permutation())
def test_renumbering_the_heads_of_each_layer_gives_the_same_circuit_with_a_map_that_keeps_layers_edges_and_scores(case):
    g1, perm = case
    g2, mapping = relabelled(g1, perm)
    assert same_circuit(g1, g2, node_tolerance=0.0, edge_tolerance=0.0) == dict(sorted(mapping.items()))  # distinct scores fix the map
    assert same_circuit(g2, g1, node_tolerance=0.0) == dict(sorted({v: k for k, v in mapping.items()}.items()))
    loose = same_circuit(g1, g2, node_tolerance=None)
    assert loose is not None and sorted(loose) == sorted(g1.nodes) and sorted(loose.values()) == sorted(g2.nodes)
    strong1, strong2 = edges_above(g1, "k_comp_z", 3.0), edges_above(g2, "k_comp_z", 3.0)
    assert {(loose[u], loose[v]) for u, v in strong1} == strong2  # an isomorphism of the thresholded graphs
    assert all(g1.nodes[a]["layer"] == g2.nodes[b]["layer"] for a, b in loose.items())


@PROPERTY
@given(graph_and_permutation(), st.data())
def test_one_strong_edge_pushed_below_the_threshold_is_not_the_same_circuit(case, data):
    g1, perm = case
    strong = sorted(edges_above(g1, "k_comp_z", 3.0))
    if not strong:
        return
    u, v = data.draw(st.sampled_from(strong))
    g2, mapping = relabelled(g1, perm)
    g2.edges[mapping[u], mapping[v]]["k_comp_z"] = 2.999
    assert same_circuit(g1, g2, node_tolerance=None) is None  # one edge fewer: no isomorphism at all
    assert same_circuit(g1, g2, threshold=2.99, node_tolerance=None) is not None


def chain(names_and_layers: dict[str, int], edges) -> nx.DiGraph:
    g = nx.DiGraph()
    for name, layer in names_and_layers.items():
        g.add_node(name, layer=layer)
    g.add_edges_from((u, v, {"k_comp_z": z}) for u, v, z in edges)
    return g


def test_hand_built_circuits_match_only_when_their_strong_edges_have_the_same_shape_within_layers():
    heads = {"L0H0": 0, "L0H1": 0, "L1H0": 1, "L1H1": 1}
    # two previous-token heads both feeding one induction head, against one feeding each
    fan_in = chain(heads, [("L0H0", "L1H1", 5.0), ("L0H1", "L1H1", 4.0), ("L0H0", "L1H0", 1.0), ("L0H1", "L1H0", 0.0)])
    parallel = chain(heads, [("L0H0", "L1H0", 5.0), ("L0H1", "L1H1", 4.0), ("L0H0", "L1H1", 1.0), ("L0H1", "L1H0", 0.0)])
    crossed = chain(heads, [("L0H1", "L1H0", 6.0), ("L0H0", "L1H1", 3.0), ("L0H0", "L1H0", 0.0), ("L0H1", "L1H1", 2.9)])
    assert same_circuit(fan_in, parallel, node_tolerance=None) is None
    swap_layer0 = {"L0H0": "L0H1", "L0H1": "L0H0", "L1H0": "L1H0", "L1H1": "L1H1"}  # edge values 5 → 6, 4 → 3
    swap_layer1 = {"L0H0": "L0H0", "L0H1": "L0H1", "L1H0": "L1H1", "L1H1": "L1H0"}  # edge values 5 → 3, 4 → 6
    assert same_circuit(parallel, crossed, node_tolerance=None) in (swap_layer0, swap_layer1)
    assert same_circuit(parallel, crossed, node_tolerance=None, edge_tolerance=0.5) is None  # 5 vs 6 or 3, 4 vs 3 or 6
    assert same_circuit(parallel, crossed, node_tolerance=None, edge_tolerance=1.0) == swap_layer0
    # an empty circuit matches any graph of the same heads per layer with no strong edge, whatever the weak ones
    assert same_circuit(chain(heads, []), chain(heads, [("L0H0", "L1H0", 2.0)]), node_tolerance=None) is not None


@PROPERTY
@given(graph_and_permutation(), st.floats(-1.0, 8.0), st.floats(-2.0, 2.0))
def test_edges_above_thresholded_and_graph_change_equal_loops_over_the_edges(case, threshold, shift):
    before, _ = case
    after = before.copy()
    for i, (u, v) in enumerate(sorted(after.edges)):
        after.edges[u, v]["k_comp_z"] += shift * (-1) ** i
    above = edges_above(before, "k_comp_z", threshold)
    assert above == {(u, v) for u, v in before.edges if before.edges[u, v]["k_comp_z"] >= threshold}
    kept = thresholded(before, "k_comp_z", threshold)
    assert set(kept.edges) == above and dict(kept.nodes(data=True)) == dict(before.nodes(data=True))
    change = graph_change(before, after, "k_comp_z", threshold)
    new = {(u, v) for u, v in after.edges if after.edges[u, v]["k_comp_z"] >= threshold}
    assert change["added"] == sorted(new - above) and change["removed"] == sorted(above - new)
    for u, v in before.edges:
        assert change["delta"][f"{u}->{v}"] == pytest.approx(after.edges[u, v]["k_comp_z"] - before.edges[u, v]["k_comp_z"])
    assert len(change["delta"]) == before.number_of_edges()
