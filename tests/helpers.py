"""Shared test doubles (tests/ is on sys.path under pytest's default import mode)."""


class Crash:
    """A tracker that simulates a kill (an interrupt) when training reaches ``at``."""

    name = "crash"

    def __init__(self, at):
        self.at = at

    def __call__(self, model, step, data):
        if step == self.at:
            raise KeyboardInterrupt("simulated kill")
        return []
