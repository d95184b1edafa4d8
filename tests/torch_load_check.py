"""Reads a file with real PyTorch and prints what torch.load made of it, as JSON, so that the
C++ tests can check pthrun's writer against torch itself (tests/test_pth_writer.cpp).

    python torch_load_check.py FILE            torch.load(FILE, weights_only=True), whole
    python torch_load_check.py FILE NAME N     torch.load(FILE, mmap=True, weights_only=True);
                                               only the first and last N values of NAME
                                               (value null when torch < 2.1 cannot mmap)
    python torch_load_check.py --zipinfo FILE  Python's zipfile: [[name, size, header_offset]]

Output: {"torch": version, "value": <value>} where a value is null, a bool, an int, a float
(nan, inf, -inf and -0.0 as strings), a str, a list, {"tuple": [...]},
{"dict": [[key, value], ...], "ordered": bool} or {"tensor": {"dtype", "shape", "stride",
"storage_offset", "storage", "values"}}; "storage" numbers storages in order of first
appearance, so tensors sharing one have the same number.
"""

import collections
import json
import os
import sys

import torch

# Numbers are spelled as in the fixtures' manifests.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
from fixture_common import encode_number as number  # noqa: E402


storages = {}


def storage_id(t):
    ptr = t.untyped_storage().data_ptr() if hasattr(t, "untyped_storage") else t.storage().data_ptr()
    return storages.setdefault(ptr, len(storages))


def values(t):
    flat = t.detach().reshape(-1)
    if t.dtype == torch.bool:
        return [int(v) for v in flat.tolist()]
    if t.dtype.is_floating_point:
        flat = flat.to(torch.float64)
    return [number(v) for v in flat.tolist()]


def encode(obj):
    if isinstance(obj, torch.Tensor):
        return {"tensor": {"dtype": str(obj.dtype).replace("torch.", ""), "shape": list(obj.shape),
                           "stride": list(obj.stride()), "storage_offset": obj.storage_offset(),
                           "storage": storage_id(obj), "values": values(obj)}}
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, float)):
        return number(obj)
    if isinstance(obj, tuple):
        return {"tuple": [encode(v) for v in obj]}
    if isinstance(obj, list):
        return [encode(v) for v in obj]
    if isinstance(obj, dict):
        return {"dict": [[encode(k), encode(v)] for k, v in obj.items()],
                "ordered": isinstance(obj, collections.OrderedDict)}
    raise TypeError(f"unexpected {type(obj)}")


def main():
    version = torch.__version__.split("+")[0]
    if sys.argv[1] == "--zipinfo":
        import zipfile
        with zipfile.ZipFile(sys.argv[2]) as z:
            out = [[i.filename, i.file_size, i.header_offset] for i in z.infolist()]
    elif len(sys.argv) == 4 and tuple(int(x) for x in version.split(".")[:2]) < (2, 1):
        out = None
    elif len(sys.argv) == 4:
        name, n = sys.argv[2], int(sys.argv[3])
        t = torch.load(sys.argv[1], mmap=True, weights_only=True)[name]
        flat = t.reshape(-1)
        out = {"shape": list(t.shape), "first": values(flat[:n]), "last": values(flat[-n:])}
    else:
        out = encode(torch.load(sys.argv[1], weights_only=True))
    print(json.dumps({"torch": version, "value": out}))


if __name__ == "__main__":
    main()
