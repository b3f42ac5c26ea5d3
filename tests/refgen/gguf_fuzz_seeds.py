#!/usr/bin/env python3
"""Tiny GGUF files written by the PyPI gguf package's GGUFWriter, as fuzz seeds for
gguf_reader_fuzz: files from the reference writer, not only from tessera's own test builder.

    gguf_fuzz_seeds.py FOLDER

Each file is a few hundred bytes to a few KB: every metadata value type, nested arrays, a
non-default alignment, and small tensors of float and block-quantized types.
"""
import sys
from pathlib import Path

import numpy as np
import gguf

Q = gguf.GGMLQuantizationType


def quantized(rng, qtype, rows, row_length):
    """Random bytes shaped as `rows` rows of `row_length` elements of a block type."""
    block_size, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    return rng.integers(0, 256, size=(rows, row_length // block_size * block_bytes), dtype=np.uint8)


def write(path, alignment, fill):
    writer = gguf.GGUFWriter(path, arch="llama")
    if alignment is not None:
        writer.add_custom_alignment(alignment)
    fill(writer)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def every_value_type(w):
    w.add_name("seed")
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000)
    w.add_int32("t.i32", -2000000000)
    w.add_uint64("t.u64", 2**63)
    w.add_int64("t.i64", -(2**62))
    w.add_float32("t.f32", 1.5)
    w.add_float64("t.f64", -2.25)
    w.add_bool("t.bool", True)
    w.add_string("t.string", "h\u00e9llo")
    w.add_array("t.strings", ["a", "", "bc"])
    w.add_array("t.ints", [1, -2, 3])
    w.add_array("t.floats", [0.5, 1.5])
    w.add_array("t.nested", [[1, 2], ["x", "y"], [[True, False]]])


def tensors(rng):
    def fill(w):
        w.add_tensor("f32", rng.standard_normal((3, 8), dtype=np.float32))
        w.add_tensor("f16", rng.standard_normal((2, 4), dtype=np.float32).astype(np.float16))
        w.add_tensor("q4_0", quantized(rng, Q.Q4_0, 2, 64), raw_dtype=Q.Q4_0)
        w.add_tensor("q8_0", quantized(rng, Q.Q8_0, 1, 32), raw_dtype=Q.Q8_0)
        w.add_tensor("q4_k", quantized(rng, Q.Q4_K, 1, 256), raw_dtype=Q.Q4_K)
        w.add_tensor("f32_4d", rng.standard_normal((2, 1, 3, 2), dtype=np.float32))
    return fill


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    write(folder / "gguf-py-values.gguf", None, every_value_type)
    write(folder / "gguf-py-tensors.gguf", None, tensors(rng))
    write(folder / "gguf-py-align64.gguf", 64, tensors(rng))
    write(folder / "gguf-py-align1.gguf", 1, lambda w: (every_value_type(w), tensors(rng)(w)))
    write(folder / "gguf-py-empty.gguf", None, lambda w: None)


if __name__ == "__main__":
    main()
