"""Circuit graphs of attention heads: heads as nodes, composition and patching effects as edges.

One :class:`networkx.DiGraph` per checkpoint. Nodes are named ``"L{layer}H{head}"``
and carry the head's scores (``induction``, ``previous_token``, ``copying``,
``ablation`` ...). Every pair of heads in successive-or-later layers gets an
edge carrying its Q-, K-, V-composition scores (``q_comp``, ``k_comp``,
``v_comp``), their z-scores against random matrices of the same shapes
(``q_comp_z`` ...), and the path-patching effect through the receiver's keys
(``key_path``, in units of the metric) when it was measured. Whether an edge
"is in the graph" is a threshold on one of these attributes
(:func:`edges_above`); :func:`graph_change` compares two checkpoints.

Example:
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
    """``"L{layer}H{head}"``."""
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
    """
    L, H = weights.n_layers, weights.n_heads
    d_model, d_head = weights.W_Q.shape[2], weights.W_Q.shape[3]
    mean, std = composition_baseline(d_model, d_head, samples=baseline_samples)
    g = nx.DiGraph(step=step, composition_baseline_mean=mean, composition_baseline_std=std)
    for layer in range(L):
        for head in range(H):
            attrs = {name: float(value[layer, head]) for name, value in (node_scores or {}).items()}
            g.add_node(node_name(layer, head), layer=layer, head=head, **attrs)
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
    """Edges whose ``attr`` is at least ``threshold`` (edges without it are left out)."""
    return {(u, v) for u, v, d in graph.edges(data=True) if attr in d and d[attr] >= threshold}


def graph_change(before: nx.DiGraph, after: nx.DiGraph, attr: str, threshold: float) -> dict[str, Any]:
    """Edges that entered and left the thresholded graph, and every edge's change of ``attr``.

    Example:
        >>> a, b = nx.DiGraph(), nx.DiGraph()
        >>> a.add_edge("L0H0", "L1H0", k_comp=0.1); b.add_edge("L0H0", "L1H0", k_comp=0.5)
        >>> graph_change(a, b, "k_comp", 0.3)["added"]
        [('L0H0', 'L1H0')]
    """
    old, new = edges_above(before, attr, threshold), edges_above(after, attr, threshold)
    delta = {f"{u}->{v}": after.edges[u, v][attr] - before.edges[u, v][attr] for u, v in after.edges if before.has_edge(u, v) and attr in after.edges[u, v] and attr in before.edges[u, v]}
    return {"attr": attr, "threshold": threshold, "added": sorted(new - old), "removed": sorted(old - new), "delta": delta}


def to_node_link(graph: nx.DiGraph) -> dict[str, Any]:
    """JSON-ready node-link data (``networkx.node_link_data``)."""
    return nx.node_link_data(graph, edges="edges")


def from_node_link(data: Mapping[str, Any]) -> nx.DiGraph:
    """Inverse of :func:`to_node_link`."""
    return nx.node_link_graph(dict(data), directed=True, edges="edges")


def write_graphs(path: str | Path, graphs: Mapping[int, nx.DiGraph]) -> Path:
    """Write ``{step: node-link graph}`` as one JSON file (atomically) and return its path."""
    from bridge.runs.storage import atomic_write_json

    path = Path(path)
    atomic_write_json(path, {str(step): to_node_link(g) for step, g in sorted(graphs.items())})
    return path


def read_graphs(path: str | Path) -> dict[int, nx.DiGraph]:
    """Read a file written by :func:`write_graphs`."""
    data = json.loads(Path(path).read_text())
    return {int(step): from_node_link(g) for step, g in data.items()}


__all__ = ["circuit_graph", "edges_above", "from_node_link", "graph_change", "node_name", "read_graphs", "to_node_link", "write_graphs"]
