"""Writes a legacy (pre-1.6 format) checkpoint larger than 256 MiB with real torch, for
test_loader_fixtures: torch.save(..., _use_new_zipfile_serialization=False) of

  big    float32 [75_000_000] (300 MB), element i = i % 4093
  small  float32 [4], [0.5, -1.5, 2.5, -3.5], its storage tagged 'cuda:0' as a checkpoint
         saved from a GPU is (a tagger registered ahead of torch's own, so no GPU is needed)

    python write_large_legacy.py OUT.pth
"""
import sys
from collections import OrderedDict

import torch

small = torch.tensor([0.5, -1.5, 2.5, -3.5])


def tag_small_as_cuda(storage):
    return "cuda:0" if storage.data_ptr() == small.data_ptr() else None


torch.serialization.register_package(0, tag_small_as_cuda, lambda obj, location: None)
big = (torch.arange(75_000_000, dtype=torch.int64) % 4093).to(torch.float32)
torch.save(OrderedDict(big=big, small=small), sys.argv[1], _use_new_zipfile_serialization=False)
