#!/usr/bin/env python3
"""safetensors_check.py — open an attograd safetensors file with NumPy alone.

usage: safetensors_check.py FILE [--config]

Reads the 8-byte little-endian header length, parses the JSON header with the
json module, checks that the tensors tile the data buffer, and views each
tensor with np.frombuffer. Prints every tensor's name, dtype, shape and a
checksum, and the metadata keys (--config prints the model config too).
When the `safetensors` package is installed, its NumPy loader must agree
bit for bit. Exits 1 on any problem.
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64, "BOOL": np.bool_}


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("file shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ValueError(f"header length {n} exceeds the file ({len(raw) - 8} bytes after it)")
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    data = raw[8 + n :]
    meta = header.pop("__metadata__", {})
    tensors, spans = {}, []
    for name, info in header.items():
        dt = np.dtype(DTYPES[info["dtype"]]).newbyteorder("<")
        b, e = info["data_offsets"]
        shape = tuple(info["shape"])
        if e - b != int(np.prod(shape, dtype=np.int64)) * dt.itemsize or e > len(data):
            raise ValueError(f"tensor {name}: offsets [{b}, {e}] do not fit {info}")
        tensors[name] = np.frombuffer(data, dtype=dt, count=(e - b) // dt.itemsize, offset=b).reshape(shape)
        spans.append((b, e))
    at = 0
    for b, e in sorted(spans):
        if b != at:
            raise ValueError(f"tensors leave a hole or overlap at data byte {at}")
        at = e
    if at != len(data):
        raise ValueError(f"tensors cover {at} of {len(data)} data bytes")
    return meta, tensors


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    path = sys.argv[1]
    try:
        meta, tensors = load(path)
    except (ValueError, KeyError, json.JSONDecodeError, UnicodeDecodeError) as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 1
    print(f"{path}: {len(tensors)} tensors, metadata keys {sorted(meta)}")
    if meta.get("format") == "attograd":
        cfg = json.loads(meta["config"])
        layers = [l["name"] + " (" + l["class_name"] + ")" for l in cfg["config"]["layers"]]
        print("model:", cfg["class_name"], "with layers", ", ".join(layers))
        if "--config" in sys.argv:
            print(json.dumps(cfg, indent=1))
    total = 0
    for name, t in tensors.items():
        total += t.size
        s = float(np.asarray(t, dtype=np.float64).sum()) if t.size else 0.0
        print(f"  {name:40s} {t.dtype.name:8s} {str(t.shape):18s} sum {s:.6g}")
    print(f"total parameters: {total:,}")
    try:
        from safetensors.numpy import load_file  # optional cross-check
    except ImportError:
        print("(the safetensors package is not installed: cross-check skipped)")
        return 0
    ref = load_file(path)
    for name, t in tensors.items():
        if not np.array_equal(ref[name], t):
            print(f"{name}: differs from the safetensors package's reading", file=sys.stderr)
            return 1
    print("the safetensors package reads the same tensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
