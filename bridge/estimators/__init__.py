"""Estimators: quantities measured from a model by differentiation (the empirical neural tangent kernel)."""

from bridge.estimators.ntk import (
    OUTPUT_REDUCTIONS,
    effective_rank,
    empirical_ntk,
    kernel_distance,
    kernel_matrix,
    kernel_target_alignment,
    ntk_eigendecomposition,
    top_eigenvalues,
)

__all__ = [
    "OUTPUT_REDUCTIONS",
    "effective_rank",
    "empirical_ntk",
    "kernel_distance",
    "kernel_matrix",
    "kernel_target_alignment",
    "ntk_eigendecomposition",
    "top_eigenvalues",
]
