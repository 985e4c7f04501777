"""Estimators over a model's parameters: the local learning coefficient (SGLD), the Hessian operator and
Lanczos, the empirical neural tangent kernel, parameter selection and parameter slots.

Examples:
    >>> from bridge.estimators import default_nbeta
    >>> round(default_nbeta(100), 2)
    21.71
"""

from bridge.estimators.hessian import HessianOperator, dense_hessian, hessian_operator, hutchinson_trace, lanczos_top, power_iteration
from bridge.estimators.llc import LLCResult, LLCWarning, SGLDConfig, default_nbeta, estimate_llc, select_params
from bridge.estimators.ntk import OUTPUT_REDUCTIONS, effective_rank, empirical_ntk, jacobian_ntk, kernel_distance, kernel_matrix, kernel_target_alignment, ntk_eigendecomposition, top_eigenvalues
from bridge.estimators.parameter_groups import Block, block_loading, blocks, parameter_names, parameter_slices, tensor_loading
from bridge.estimators.reparam import ParameterSlots

__all__ = [
    "OUTPUT_REDUCTIONS",
    "Block",
    "HessianOperator",
    "LLCResult",
    "LLCWarning",
    "ParameterSlots",
    "SGLDConfig",
    "block_loading",
    "blocks",
    "default_nbeta",
    "dense_hessian",
    "estimate_llc",
    "hessian_operator",
    "hutchinson_trace",
    "lanczos_top",
    "parameter_names",
    "parameter_slices",
    "power_iteration",
    "select_params",
    "tensor_loading",
    "effective_rank",
    "empirical_ntk",
    "jacobian_ntk",
    "kernel_distance",
    "kernel_matrix",
    "kernel_target_alignment",
    "ntk_eigendecomposition",
    "top_eigenvalues",
]
