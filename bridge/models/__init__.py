"""Models: deep linear networks, MLPs and toy superposition models (HookedRootModules), toy transformers
(TransformerBridge), and the lazy-training wrapper :class:`LazyModel`, a plain ``nn.Module`` whose wrapped
network's hook points are named ``model.<hook>`` (``model.hook_post.0``)."""

from bridge.models.base import MODELS, build_model, move_to
from bridge.models.deep_linear import DeepLinearConfig, DeepLinearNetwork
from bridge.models.lazy import LazyConfig, LazyModel
from bridge.models.mlp import MLP, MLPConfig
from bridge.models.toy_superposition import ToySuperposition, ToySuperpositionConfig
from bridge.models.transformer import TransformerConfig, build_transformer

__all__ = [
    "MLP",
    "MODELS",
    "DeepLinearConfig",
    "DeepLinearNetwork",
    "LazyConfig",
    "LazyModel",
    "MLPConfig",
    "ToySuperposition",
    "ToySuperpositionConfig",
    "TransformerConfig",
    "build_model",
    "build_transformer",
    "move_to",
]
