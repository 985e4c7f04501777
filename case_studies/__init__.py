"""Case studies: one module per study, each a :class:`~case_studies.base.CaseStudy` over library parts.

Every built-in study is one line below (name → ``module:class``), imported on
first use, so ``mechbridge list`` imports none of them. A plugin registers its
own with ``@register("name")``.

Examples:
    >>> from case_studies import case_study_names
    >>> "deep-linear" in case_study_names()
    True
"""

from case_studies.base import CASE_STUDIES, CaseStudy, Offline, case_study_names, get_case_study, register
from case_studies.base.runner import rebuild_report, run_case_study

BUILT_IN = {
    "deep-linear": ("case_studies.deep_linear:DeepLinear", "Saxe mode dynamics vs hierarchical differentiation in a deep linear network"),
    "edge-of-stability": ("case_studies.edge_of_stability:EdgeOfStability", "Progressive sharpening and the 2/lr plateau, with the top Hessian eigenvector's loading"),
    "grokking": ("case_studies.grokking:Grokking", "Grokking on modular addition: phases, Fourier circuit, AGF feature order, weight-decay time scale"),
    "induction-heads": ("case_studies.induction_heads:InductionHeads", "2-layer attention-only transformer: loss drop, induction circuit and LLC boundary coincide; 1-layer control"),
    "kernel-limit": ("case_studies.kernel_limit:KernelLimit", "Lazy vs rich training over output scales: eigenlearning from the initial NTK, moving kernels and features"),
    "llc-calibration": ("case_studies.llc_calibration:LLCCalibration", "SGLD learning coefficient vs Aoyagi's closed form for reduced-rank regression"),
    "mup": ("case_studies.mup:Mup", "μP vs SP vs NTK on an MLP: coordinate-check width exponents, learning-rate transfer, representations converging across widths"),
    "quanta": ("case_studies.quanta:Quanta", "Quantization model on multitask sparse parity over a width sweep: emergence order, hidden progress, scaling exponents, loss from the quanta learned"),
    "superposition": ("case_studies.superposition:Superposition", "Toy models of superposition: phase diagram, pentagon, sticky dimensionalities, learning coefficient across k-gon transitions"),
}
for _name, (_target, _summary) in BUILT_IN.items():
    CASE_STUDIES.add_lazy(_name, _target)


def summary(name: str) -> str:
    """One line on case study ``name`` (without importing a built-in one): a registered class's
    ``summary`` attribute, else the first paragraph of its own docstring (on one line).

    Examples:
        >>> summary("llc-calibration")
        "SGLD learning coefficient vs Aoyagi's closed form for reduced-rank regression"
    """
    if name in BUILT_IN:
        return BUILT_IN[name][1]
    study = CASE_STUDIES.get(name)
    return getattr(study, "summary", "") or " ".join((vars(study).get("__doc__") or "").strip().split("\n\n")[0].split())


__all__ = ["BUILT_IN", "CASE_STUDIES", "CaseStudy", "Offline", "case_study_names", "get_case_study", "rebuild_report", "register", "run_case_study", "summary"]
