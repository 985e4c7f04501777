"""``python -m bridge.cli``: the ``mechbridge`` command line, as its console script runs it."""

from bridge.cli.app import console

if __name__ == "__main__":
    console()
