"""Execute the notebooks top to bottom and write their outputs in place (`make notebook`).

Usage: python notebooks/execute.py [NOTEBOOK ...]   (default: every notebooks/*.ipynb, in order)

Each notebook runs in its own folder with a fresh kernel; the first failing cell stops the run
with its traceback. The data set comes from $D7_DATA (default data/dataset.csv).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
CELL_TIMEOUT = 1200
"""Seconds one cell may run (the slowest cell cross-validates the chosen model, 5 x 3)."""


def execute(path: Path, write: bool = True, timeout: int = CELL_TIMEOUT) -> nbformat.NotebookNode:
    """Run one notebook; raises nbclient's CellExecutionError on the first failing cell."""
    # On a shared machine, idle OpenMP threads should sleep rather than spin (XGBoost).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    if write:
        nbformat.write(notebook, path)
    return notebook


def main(arguments: list[str]) -> int:
    paths = [Path(a) for a in arguments] or sorted(HERE.glob("[0-9]*.ipynb"))
    for path in paths:
        start = time.perf_counter()
        execute(path)
        print(f"{path}: executed in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
