"""Write docs/quickstart.ipynb from the cells below, executed so readers see the outputs.

Regenerate the notebook, cells and outputs, with ``python docs/make_quickstart.py``
(the ``docs`` extra; about a minute on one CPU thread) after editing the cells or
when the library's results change. The tests execute the notebook again (twice in one
folder: every run trains into a fresh directory) and check it matches these cells.
"""

import tempfile
from pathlib import Path

import nbformat

CELLS = [
    ("markdown", "# Quickstart: from a run to a bridge report\n\nRun the quick deep-linear case study, open the run directory, look at its tidy metrics, draw a figure and read the report."),
    ("code", "%matplotlib inline\nimport tempfile\nfrom pathlib import Path\n\nimport matplotlib.pyplot as plt\n\nimport bridge\nfrom case_studies import run_case_study\n\n# a fresh run directory at every run of the notebook (a run directory is never overwritten)\nout = Path(tempfile.mkdtemp(prefix=\"quickstart-\", dir=\".\")) / \"deep-linear\"\nreport = run_case_study(\"deep-linear\", \"quick\", out, seed=0, device=\"cpu\", progress=False)\nreport.verdict"),
    ("markdown", "A run directory is the unit everything reads. `load_run` gives the config, the checkpoint steps, the metrics (one pandas table) and the model at any checkpoint."),
    ("code", "run = bridge.load_run(out)\nprint(run.status, \"with checkpoints at steps\", run.steps[:5], \"...\", run.steps[-1])\nprint(run.config.model)\nrun.metrics.head()"),
    ("code", "strength = run.table(\"mode/strength\", \"mode\")  # one row per checkpoint step, one column per mode\nstrength.iloc[::8, :6]"),
    ("markdown", "Each mode of the hierarchy rises on its own sigmoid; theory (Saxe et al.) predicts when from the initial weights."),
    ("code", "from bridge.theory import saxe\nfrom case_studies.deep_linear import predictions\n\nfig, ax = plt.subplots(figsize=(6, 3.5))\nfor p in predictions(run)[:5]:\n    m = p.extra[\"mode\"]\n    ax.plot(strength.index, strength[m], label=f\"mode {m}\")\n    ax.plot(strength.index, saxe.mode_trajectory(strength.index.to_numpy(), p.extra[\"s\"], p.extra[\"u0\"], p.extra[\"lr\"]), \"k--\", lw=0.8)\nax.set_xlabel(\"step\"); ax.set_ylabel(\"mode strength\"); ax.legend(); plt.show()"),
    ("markdown", "The model at any checkpoint is a HookedRootModule: `run_with_cache` gives the hidden representation the mechanism side measures."),
    ("code", "net = run.model_at(run.steps[-1])\n_, cache = net.run_with_cache(run.task_data().train.x)\ncache[\"hook_hidden.0\"].shape"),
    ("markdown", "The report joins prediction, dynamics and mechanism. A notebook shows it as its tables: the verdict, each claim with its predicted and observed values and tolerance, and the claims that failed (the report returned by `run_case_study` shows the same)."),
    ("code", "run.report"),
    ("markdown", "`run.report` is the stored `report.json` as a dict, with a stable schema (fields may be added, never renamed)."),
    ("code", "rep = run.report\nprint(rep[\"verdict\"], len(rep[\"matches\"]), \"matches\")\nrep[\"matches\"][1]"),
]


def build() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "markdown" else nbformat.v4.new_code_cell(src) for kind, src in CELLS]
    return nb


if __name__ == "__main__":
    import nbclient

    nb = build()
    with tempfile.TemporaryDirectory() as tmp:
        nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp}}).execute()
    for cell in nb.cells:  # keep results, drop the environment's import-time notices
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
    nbformat.write(nb, Path(__file__).with_name("quickstart.ipynb"))
