"""Probe registry: new probes plug in by registering a name, without editing existing files."""

from __future__ import annotations

from bridge.registry import Registry

PROBES: Registry[type] = Registry("probe")
