"""Synthetic tasks with known ground truth, one module per task, each registered by its config ``kind``."""

from bridge.tasks.base import TASKS, Split, TaskData, make_task
from bridge.tasks.boolean_cube import BooleanCubeConfig, walsh_coefficients
from bridge.tasks.hierarchy import HierarchyConfig, feature_matrix, haar_modes, level_labels
from bridge.tasks.linear import LinearTeacherConfig
from bridge.tasks.modular import ModularConfig
from bridge.tasks.repeated_tokens import RepeatedTokensConfig
from bridge.tasks.sparse_features import SparseFeaturesConfig
from bridge.tasks.sparse_parity import SparseParityConfig
from bridge.tasks.teacher_mlp import TeacherMLPConfig

__all__ = [
    "TASKS",
    "BooleanCubeConfig",
    "HierarchyConfig",
    "LinearTeacherConfig",
    "ModularConfig",
    "RepeatedTokensConfig",
    "SparseFeaturesConfig",
    "SparseParityConfig",
    "Split",
    "TaskData",
    "TeacherMLPConfig",
    "feature_matrix",
    "haar_modes",
    "level_labels",
    "make_task",
    "walsh_coefficients",
]
