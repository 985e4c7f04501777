"""Theories of learning dynamics, one module per theory, each validated against simulation in the tests."""

from bridge.theory.base import Prediction

__all__ = ["Prediction"]
