#!/usr/bin/env python3
"""Prints gguf-py's tensor type table, one type a line: NAME ID BLOCK_SIZE BLOCK_BYTES."""
import gguf

for qtype, (block_size, block_bytes) in gguf.GGML_QUANT_SIZES.items():
    print(qtype.name, int(qtype), block_size, block_bytes)
