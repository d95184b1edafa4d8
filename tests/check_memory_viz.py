"""Reads a memory snapshot with PyTorch's own visualizer code, as pytorch.org/memory_viz would.

    python check_memory_viz.py SNAPSHOT.pickle

Runs torch.cuda._memory_viz's segsum (which asserts that every segment's blocks account for
its size), trace and trace_plot. Exits with 3, saying so, when torch is older than 2.1.
"""

import pickle
import sys

import torch

if tuple(int(x) for x in torch.__version__.split(".")[:2]) < (2, 1):
    print(f"torch {torch.__version__} is older than 2.1: its memory visualizer cannot be checked")
    sys.exit(3)

from torch.cuda import _memory_viz  # noqa: E402

with open(sys.argv[1], "rb") as f:
    snapshot = pickle.load(f)
summary = _memory_viz.segsum(snapshot)
assert f"segments: {len(snapshot['segments'])}" in summary, summary
assert "entries" in _memory_viz.trace(snapshot)
assert "MemoryViz.js" in _memory_viz.trace_plot(snapshot)
print(f"torch {torch.__version__}: segsum, trace and trace_plot read {len(snapshot['segments'])} segments")
