"""Synthetic tasks with known ground truth."""

from bridge.tasks.base import TASKS, Split, TaskData, make_task
from bridge.tasks.hierarchy import HierarchyConfig, feature_matrix, haar_modes, level_labels
from bridge.tasks.linear import LinearTeacherConfig

__all__ = ["TASKS", "HierarchyConfig", "LinearTeacherConfig", "Split", "TaskData", "feature_matrix", "haar_modes", "level_labels", "make_task"]
