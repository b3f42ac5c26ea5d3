#!/usr/bin/env python3
"""Reference dequantization of K-quant blocks, for tests/quant_kquant_test.cpp.

Usage: kquant_dequantize_reference.py TYPE BLOCKS_IN FLOATS_OUT [TYPE BLOCKS_IN FLOATS_OUT ...]

TYPE is a ggml type name (q2_k, q3_k, q4_k, q5_k, q6_k, q8_k, any case). BLOCKS_IN holds raw
blocks; FLOATS_OUT receives the little-endian float32 values. Q2_K ... Q6_K go through the PyPI
gguf package's gguf.quants.dequantize; Q8_K, which gguf-py does not implement (it is never stored
in files), is computed here as ggml does: d * q in float32.
"""

import sys

import numpy as np
from gguf import GGMLQuantizationType, quants
from gguf.constants import GGML_QUANT_SIZES

Q8_K_BLOCK = np.dtype([("d", "<f4"), ("qs", "i1", 256), ("bsums", "<i2", 16)])


def dequantize(type_name: str, data: np.ndarray) -> np.ndarray:
    qtype = GGMLQuantizationType[type_name.upper()]
    block_bytes = GGML_QUANT_SIZES[qtype][1]
    if data.size % block_bytes != 0:
        raise ValueError(f"{data.size} bytes is not a whole number of {type_name} blocks")
    if qtype == GGMLQuantizationType.Q8_K:
        assert Q8_K_BLOCK.itemsize == block_bytes
        blocks = data.view(Q8_K_BLOCK)
        return (blocks["d"].reshape(-1, 1) * blocks["qs"].astype(np.float32)).reshape(-1)
    return quants.dequantize(data, qtype).astype(np.float32, copy=False).reshape(-1)


def main(args: list[str]) -> int:
    if not args or len(args) % 3 != 0:
        print(__doc__, file=sys.stderr)
        return 2
    for i in range(0, len(args), 3):
        type_name, blocks_in, floats_out = args[i : i + 3]
        data = np.fromfile(blocks_in, dtype=np.uint8)
        with np.errstate(all="ignore"):  # inf and NaN scales are part of the tests
            values = dequantize(type_name, data)
        values.astype("<f4").tofile(floats_out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
