#!/usr/bin/env python3
"""Reference rows from the PyPI gguf package, for the codec tests.

    gguf_quants.py quantize TYPE IN OUT     IN: float32 values, OUT: TYPE's bytes
    gguf_quants.py dequantize TYPE IN OUT   IN: TYPE's bytes, OUT: float32 values

TYPE is a GGMLQuantizationType name in any case (q4_0, F16, bf16). Files are raw little-endian
arrays. quantize and dequantize are gguf.quants' functions (numpy's astype for F16), so the
tests compare tessera's codecs with what gguf-py computes, not with a copy of it.
"""
import sys

import numpy as np

import gguf


def main() -> int:
    if len(sys.argv) != 5 or sys.argv[1] not in ("quantize", "dequantize"):
        print(__doc__, file=sys.stderr)
        return 2
    op, type_name, src, dst = sys.argv[1:]
    qtype = gguf.GGMLQuantizationType[type_name.upper()]
    with np.errstate(all="ignore"):
        if op == "quantize":
            values = np.fromfile(src, dtype=np.float32)
            out = gguf.quants.quantize(values, qtype)
            np.ascontiguousarray(out).view(np.uint8).tofile(dst)
        else:
            data = np.fromfile(src, dtype=np.uint8)
            out = gguf.quants.dequantize(data, qtype)
            np.ascontiguousarray(out, dtype=np.float32).tofile(dst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
