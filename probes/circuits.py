"""Circuit graphs of attention heads: heads as nodes, composition and patching effects as edges.

One :class:`networkx.DiGraph` per checkpoint. Nodes are named ``"L{layer}H{head}"``
and carry the head's scores (``induction``, ``previous_token``, ``copying``,
``ablation`` ...). Every pair of heads in successive-or-later layers gets an
edge carrying its Q-, K-, V-composition scores (``q_comp``, ``k_comp``,
``v_comp``), their z-scores against random matrices of the same shapes
(``q_comp_z`` ...), and the path-patching effect through the receiver's keys
(``key_path``, in units of the metric) when it was measured. Whether an edge
"is in the graph" is a threshold on one of these attributes
(:func:`edges_above`); :func:`graph_change` compares two checkpoints and
:func:`same_circuit` two runs (isomorphism up to relabelling heads within layers).

Examples:
    >>> from bridge.models import TransformerConfig, build_model
    >>> from probes.heads import head_weights
    >>> model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
    >>> g = circuit_graph(head_weights(model))
    >>> sorted(g.nodes), g.number_of_edges()
    (['L0H0', 'L0H1', 'L1H0', 'L1H1'], 4)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx
from torch import Tensor

from probes.heads import HeadWeights, composition_baseline, composition_scores


def node_name(layer: int, head: int) -> str:
    """``"L{layer}H{head}"``.

    Examples:
        >>> node_name(1, 0)
        'L1H0'
    """
    return f"L{layer}H{head}"


def circuit_graph(
    weights: HeadWeights,
    *,
    node_scores: Mapping[str, Tensor] | None = None,
    key_path: Tensor | None = None,
    key_path_layers: tuple[int, int] = (0, 1),
    step: int | None = None,
    baseline_samples: int = 200,
) -> nx.DiGraph:
    """The head graph of one checkpoint.

    Args:
        weights: from :func:`probes.heads.head_weights`.
        node_scores: name → ``(layer, head)`` tensor of per-head values stored on nodes.
        key_path: ``(sender head, receiver head)`` path-patching effects through the
            receiver's keys, for the layer pair ``key_path_layers``.
        step: the checkpoint's step (a graph attribute).
        baseline_samples: random matrix pairs for the composition baseline.

    Examples:
        >>> from probes.heads import HeadWeights
        >>> eye = torch.eye(2).expand(2, 1, 2, 2)                     # 2 layers of 1 head, every W the identity
        >>> g = circuit_graph(HeadWeights(torch.eye(2), torch.eye(2), eye, eye, eye, eye), step=10)
        >>> list(g.edges), round(g.edges["L0H0", "L1H0"]["k_comp"], 4), g.graph["step"]   # ‖I I‖_F / (‖I‖_F ‖I‖_F) = 1/√2
        ([('L0H0', 'L1H0')], 0.7071, 10)
    """
    L, H = weights.n_layers, weights.n_heads
    d_model, d_head = weights.W_Q.shape[2], weights.W_Q.shape[3]
    mean, std = composition_baseline(d_model, d_head, samples=baseline_samples)
    g = nx.DiGraph(step=step, composition_baseline_mean=mean, composition_baseline_std=std)
    for layer in range(L):
        for head in range(H):
            node_attrs = {name: float(value[layer, head]) for name, value in (node_scores or {}).items()}
            g.add_node(node_name(layer, head), layer=layer, head=head, **node_attrs)
    comp = composition_scores(weights)
    for l0 in range(L):
        for l1 in range(l0 + 1, L):
            for h0 in range(H):
                for h1 in range(H):
                    attrs: dict[str, Any] = {}
                    for kind, score in comp.items():
                        value = float(score[l0, h0, l1, h1])
                        attrs[f"{kind}_comp"] = value
                        attrs[f"{kind}_comp_z"] = (value - mean) / std
                    if key_path is not None and (l0, l1) == tuple(key_path_layers):
                        attrs["key_path"] = float(key_path[h0, h1])
                    g.add_edge(node_name(l0, h0), node_name(l1, h1), **attrs)
    return g


def edges_above(graph: nx.DiGraph, attr: str, threshold: float) -> set[tuple[str, str]]:
    """Edges whose ``attr`` is at least ``threshold`` (edges without it are left out).

    Examples:
        >>> g = nx.DiGraph([("L0H0", "L1H0", {"k_comp": 0.5}), ("L0H1", "L1H0", {"k_comp": 0.1}), ("L0H0", "L1H1", {})])
        >>> edges_above(g, "k_comp", 0.3)
        {('L0H0', 'L1H0')}
    """
    return {(u, v) for u, v, d in graph.edges(data=True) if attr in d and d[attr] >= threshold}


def graph_change(before: nx.DiGraph, after: nx.DiGraph, attr: str, threshold: float) -> dict[str, Any]:
    """Edges that entered and left the thresholded graph, and every edge's change of ``attr``.

    Examples:
        >>> a, b = nx.DiGraph(), nx.DiGraph()
        >>> a.add_edge("L0H0", "L1H0", k_comp=0.1); b.add_edge("L0H0", "L1H0", k_comp=0.5)
        >>> graph_change(a, b, "k_comp", 0.3)["added"]
        [('L0H0', 'L1H0')]
    """
    old, new = edges_above(before, attr, threshold), edges_above(after, attr, threshold)
    delta = {f"{u}->{v}": after.edges[u, v][attr] - before.edges[u, v][attr] for u, v in after.edges if before.has_edge(u, v) and attr in after.edges[u, v] and attr in before.edges[u, v]}
    return {"attr": attr, "threshold": threshold, "added": sorted(new - old), "removed": sorted(old - new), "delta": delta}


def to_node_link(graph: nx.DiGraph) -> dict[str, Any]:
    """JSON-ready node-link data (``networkx.node_link_data``).

    Examples:
        >>> data = to_node_link(nx.DiGraph([("L0H0", "L1H0", {"k_comp": 0.5})], step=5))
        >>> data["graph"], data["edges"]
        ({'step': 5}, [{'k_comp': 0.5, 'source': 'L0H0', 'target': 'L1H0'}])
    """
    return nx.node_link_data(graph, edges="edges")


def from_node_link(data: Mapping[str, Any]) -> nx.DiGraph:
    """Inverse of :func:`to_node_link`.

    Examples:
        >>> g = from_node_link(to_node_link(nx.DiGraph([("L0H0", "L1H0", {"k_comp": 0.5})], step=5)))
        >>> list(g.edges(data=True)), g.graph
        ([('L0H0', 'L1H0', {'k_comp': 0.5})], {'step': 5})
    """
    return nx.node_link_graph(dict(data), directed=True, edges="edges")


def write_graphs(path: str | Path, graphs: Mapping[int, nx.DiGraph]) -> Path:
    """Write ``{step: node-link graph}`` as one JSON file (atomically) and return its path.

    Examples:
        >>> import tempfile
        >>> write_graphs(Path(tempfile.mkdtemp()) / "graphs.json", {100: nx.DiGraph([("L0H0", "L1H0")])}).name
        'graphs.json'
    """
    from bridge.runs.storage import atomic_write_json

    path = Path(path)
    atomic_write_json(path, {str(step): to_node_link(g) for step, g in sorted(graphs.items())})
    return path


def read_graphs(path: str | Path) -> dict[int, nx.DiGraph]:
    """Read a file written by :func:`write_graphs`: ``{step: graph}``.

    Examples:
        >>> import tempfile
        >>> path = write_graphs(Path(tempfile.mkdtemp()) / "graphs.json", {100: nx.DiGraph([("L0H0", "L1H0")])})
        >>> {step: list(g.edges) for step, g in read_graphs(path).items()}
        {100: [('L0H0', 'L1H0')]}
    """
    data = json.loads(Path(path).read_text())
    return {int(step): from_node_link(g) for step, g in data.items()}


def thresholded(graph: nx.DiGraph, attr: str, threshold: float) -> nx.DiGraph:
    """Every head of ``graph`` (with its attributes) and only the edges whose ``attr`` is at least ``threshold``.

    Examples:
        >>> t = thresholded(nx.DiGraph([("L0H0", "L1H0", {"k_comp": 0.5}), ("L0H1", "L1H0", {"k_comp": 0.1})]), "k_comp", 0.3)
        >>> sorted(t.nodes), list(t.edges)
        (['L0H0', 'L0H1', 'L1H0'], [('L0H0', 'L1H0')])
    """
    out = nx.DiGraph(**graph.graph)
    out.add_nodes_from(graph.nodes(data=True))
    out.add_edges_from((u, v, graph.edges[u, v]) for u, v in edges_above(graph, attr, threshold))
    return out


def same_circuit(
    g1: nx.DiGraph,
    g2: nx.DiGraph,
    attribute: str = "k_comp_z",
    threshold: float = 3.0,
    node_tolerance: float | Mapping[str, float] | None = 0.1,
    edge_tolerance: float | None = None,
) -> dict[str, str] | None:
    """A relabelling of heads within layers that carries ``g1``'s thresholded circuit onto ``g2``'s, or ``None``.

    "The same circuit" is isomorphism of the two thresholded graphs (:func:`thresholded`:
    all heads, edges with ``attribute ≥ threshold``) under a node map that keeps
    every head in its layer (heads are interchangeable only within a layer) and
    whose matched heads have node scores within tolerance. Matching is
    networkx's VF2 ``DiGraphMatcher``.

    Args:
        g1, g2: head graphs from :func:`circuit_graph` (nodes need a ``layer``).
        attribute: the edge attribute thresholded, e.g. ``"k_comp_z"``.
        threshold: an edge is in the circuit when its ``attribute`` is at least this.
        node_tolerance: largest allowed ``|score₁ − score₂|`` of matched heads: one
            value for every numeric node attribute the two graphs share (other
            than ``layer`` and ``head``), or ``{attribute: tolerance}`` for only
            those attributes, or ``None`` to ignore node scores.
        edge_tolerance: largest allowed difference of ``attribute`` on matched
            edges; ``None`` lets any two edges above the threshold match.

    Returns:
        ``{head of g1: head of g2}`` (sorted by g1's heads) for a match, else ``None``.

    Raises:
        ValueError: a node without ``layer``, ``attribute`` on no edge of a graph that has edges, or a
            ``node_tolerance`` attribute on no node of a graph (a misspelt score would match no head).

    Examples:
        >>> a, b = nx.DiGraph(), nx.DiGraph()
        >>> for g, (p, q) in ((a, ("L0H0", "L0H1")), (b, ("L0H1", "L0H0"))):
        ...     g.add_nodes_from([(p, {"layer": 0}), (q, {"layer": 0}), ("L1H0", {"layer": 1})])
        ...     g.add_edge(p, "L1H0", k_comp_z=5.0); g.add_edge(q, "L1H0", k_comp_z=0.5)
        >>> same_circuit(a, b, node_tolerance=None)
        {'L0H0': 'L0H1', 'L0H1': 'L0H0', 'L1H0': 'L1H0'}
    """
    from networkx.algorithms.isomorphism import DiGraphMatcher

    for name, g in (("g1", g1), ("g2", g2)):
        missing = [n for n, d in g.nodes(data=True) if "layer" not in d]
        if missing:
            raise ValueError(f"{name} has nodes without a 'layer' attribute: {sorted(missing)[:5]}")
        if g.number_of_edges() and not any(attribute in d for *_, d in g.edges(data=True)):
            raise ValueError(f"{name} has no edge carrying {attribute!r}; edge attributes: {sorted(set().union(*(d for *_, d in g.edges(data=True))))}")
    if isinstance(node_tolerance, Mapping):
        tolerances = dict(node_tolerance)
        for name, g in (("g1", g1), ("g2", g2)):
            carried = set().union(*(d for _, d in g.nodes(data=True)))
            unknown = sorted(set(tolerances) - carried) if len(g) else []
            if unknown:
                raise ValueError(f"node_tolerance names {unknown}, which no node of {name} carries; node attributes: {sorted(carried)}")
    elif node_tolerance is None:
        tolerances = {}
    else:
        shared = set.intersection(*(_numeric_scores(d) for g in (g1, g2) for _, d in g.nodes(data=True))) if len(g1) and len(g2) else set()
        tolerances = dict.fromkeys(shared, float(node_tolerance))

    def node_match(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
        if a["layer"] != b["layer"]:
            return False
        return all(key in a and key in b and abs(float(a[key]) - float(b[key])) <= tol for key, tol in tolerances.items())

    def edge_match(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
        return edge_tolerance is None or abs(float(a[attribute]) - float(b[attribute])) <= edge_tolerance

    matcher = DiGraphMatcher(thresholded(g1, attribute, threshold), thresholded(g2, attribute, threshold), node_match=node_match, edge_match=edge_match)
    return dict(sorted(matcher.mapping.items())) if matcher.is_isomorphic() else None


def _numeric_scores(attrs: Mapping[str, Any]) -> set[str]:
    """Names of a node's numeric score attributes (not its ``layer`` and ``head``)."""
    return {k for k, v in attrs.items() if k not in ("layer", "head") and isinstance(v, (int, float)) and not isinstance(v, bool)}


__all__ = ["circuit_graph", "edges_above", "from_node_link", "graph_change", "node_name", "read_graphs", "same_circuit", "thresholded", "to_node_link", "write_graphs"]
