#!/usr/bin/env python3
"""GGUF files written and read by the PyPI gguf package, for tessera's cross-check tests.

    gguf_crosscheck.py write DIR --types=ID,ID,...
        Writes GGUF files into DIR with gguf.GGUFWriter: every metadata value type, nested
        arrays, alignments 32, 64 and 1, and one tensor of each listed ggml type id (random
        bytes, 1-D to 4-D) plus tensors GGUFWriter types itself from numpy arrays. Prints a
        manifest: for each file, "expected" (built from the values handed to the writer, not
        read back), "dump" (what gguf.GGUFReader reads from the file), and "tensor_bytes", a
        file holding every tensor's bytes back to back at each expected tensor's
        "source_offset".
    gguf_crosscheck.py dump FILE...
        Reads each FILE with gguf.GGUFReader and prints {FILE: description}, or
        {FILE: {"error": MESSAGE}} for a file it cannot read. Files are read in parallel.
    gguf_crosscheck.py types
        Prints gguf's tensor types: {ID: {"name", "block_size", "block_bytes"}}.

A description is exact, so that two readers agree only when they read the same bits:
    {"version", "alignment", "data_offset", "utf8_errors": [keys whose strings are not UTF-8],
     "metadata": [{"key", "type", "value"}, ...] in file order,
     "tensors": [{"name", "shape" (ggml order), "type" (ggml id), "offset" (from the data
                  section), "n_bytes", "sha256"}, ...] in file order}
A value is {"type": NAME, "value": V}; arrays add "element_type". V is a number for integers, a
boolean for bools, the IEEE bits in hex for floats ("0x3f800000": NaN payloads and -0.0 stay
exact), a string for strings ({"invalid_utf8": HEX} when not UTF-8), and for arrays a list of
element values, where nested arrays are themselves {"type": "array", ...} values.
"""
import concurrent.futures
import hashlib
import json
import os
import struct
import sys

import numpy as np

import gguf
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType

SEED = 20240601


# --- the exact form --------------------------------------------------------------------------

def type_name(vtype: GGUFValueType) -> str:
    return vtype.name.lower()


def float32_hex(x: float) -> str:
    return "0x%08x" % struct.unpack("<I", struct.pack("<f", x))[0]


def float64_hex(x: float) -> str:
    return "0x%016x" % struct.unpack("<Q", struct.pack("<d", x))[0]


# --- what the writer was given ---------------------------------------------------------------

def intended_element(vtype: GGUFValueType, value):
    """The exact form of a value as GGUFWriter._pack_val will encode it."""
    if vtype == GGUFValueType.ARRAY:
        return intended_array(value, None)
    if vtype == GGUFValueType.FLOAT32:
        return float32_hex(value)
    if vtype == GGUFValueType.FLOAT64:
        return float64_hex(value)
    if vtype == GGUFValueType.BOOL:
        return bool(value)
    if vtype == GGUFValueType.STRING:
        return value.decode("utf-8") if isinstance(value, bytes) else value
    return int(value)


def intended_array(value, sub_type):
    # The element type rule of GGUFWriter._pack_val.
    if sub_type is not None:
        etype = sub_type
    elif isinstance(value, bytes):
        etype = GGUFValueType.UINT8
    else:
        etype = GGUFValueType.get_type(value[0])
    return {"type": "array", "element_type": type_name(etype),
            "value": [intended_element(etype, v) for v in value]}


def intended_metadata(writer: gguf.GGUFWriter) -> list:
    out = []
    for key, v in writer.kv_data[0].items():
        if v.type == GGUFValueType.ARRAY:
            out.append({"key": key, **intended_array(v.value, v.sub_type)})
        else:
            out.append({"key": key, "type": type_name(v.type),
                        "value": intended_element(v.type, v.value)})
    return out


# --- what the reader reads -------------------------------------------------------------------

class Decoder:
    """Rebuilds values from GGUFReader's field parts. GGUFReader flattens nested arrays in
    ReaderField.contents(), so this walks the parts it read, in the order it read them."""

    def __init__(self):
        self.utf8_errors = []

    def string(self, data, key):
        raw = bytes(data)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.utf8_errors.append(key)
            return {"invalid_utf8": raw.hex()}

    def element(self, parts, i, vtype, key):
        """Returns (exact form, index of the next part)."""
        if vtype == GGUFValueType.STRING:
            return self.string(parts[i + 1], key), i + 2
        if vtype == GGUFValueType.ARRAY:
            etype = GGUFValueType(int(parts[i][0]))
            count = int(parts[i + 1][0])
            i += 2
            values = []
            for _ in range(count):
                v, i = self.element(parts, i, etype, key)
                values.append(v)
            return {"type": "array", "element_type": type_name(etype), "value": values}, i
        part = parts[i]
        if vtype == GGUFValueType.FLOAT32:
            return "0x%08x" % int(part.view(np.uint32)[0]), i + 1
        if vtype == GGUFValueType.FLOAT64:
            return "0x%016x" % int(part.view(np.uint64)[0]), i + 1
        if vtype == GGUFValueType.BOOL:
            return bool(part[0]), i + 1
        return int(part[0]), i + 1

    def field(self, field):
        # parts: key length, key bytes, value type, then the value's parts.
        vtype = GGUFValueType(int(field.parts[2][0]))
        value, end = self.element(field.parts, 3, vtype, field.name)
        assert end == len(field.parts), f"{field.name}: {len(field.parts) - end} parts left over"
        if vtype == GGUFValueType.ARRAY:
            return {"key": field.name, **value}
        return {"key": field.name, "type": type_name(vtype), "value": value}


def read(path: str) -> gguf.GGUFReader:
    """GGUFReader over the file's bytes in memory rather than mapped. GGUFReader makes several
    numpy views per array element, and np.memmap's subclass hooks make each view cost about a
    microsecond; on a plain array the same parsing code reads a vocabulary 3x faster."""
    memmap = np.memmap
    np.memmap = lambda filename, mode="r": np.fromfile(filename, dtype=np.uint8)
    try:
        return gguf.GGUFReader(path)
    finally:
        np.memmap = memmap


def describe(path: str) -> dict:
    try:
        reader = read(path)
    except Exception as e:  # noqa: BLE001 - any failure is reported to the test
        return {"error": f"{type(e).__name__}: {e}"}
    decoder = Decoder()
    fields = list(reader.fields.values())
    # The first three fields are GGUFReader's own: version, tensor count, metadata count.
    version = int(fields[0].parts[0][0])
    metadata = [decoder.field(f) for f in fields[3:]]
    tensors = []
    for t in reader.tensors:
        tensors.append({
            "name": t.name,
            "shape": [int(d) for d in t.shape],
            "type": int(t.tensor_type),
            "offset": int(t.data_offset) - int(reader.data_offset),
            "n_bytes": int(t.n_bytes),
            "sha256": hashlib.sha256(t.data.tobytes()).hexdigest(),
        })
    return {"version": version, "alignment": int(reader.alignment),
            "data_offset": int(reader.data_offset), "utf8_errors": decoder.utf8_errors,
            "metadata": metadata, "tensors": tensors}


# --- writing ---------------------------------------------------------------------------------

def add_values(w: gguf.GGUFWriter) -> None:
    """Every value type, at its extremes and awkward cases."""
    T = GGUFValueType
    add = w.add_key_value
    add("t.uint8", 255, T.UINT8)
    add("t.int8", -128, T.INT8)
    add("t.uint16", 65535, T.UINT16)
    add("t.int16", -32768, T.INT16)
    add("t.uint32", 2**32 - 1, T.UINT32)
    add("t.int32", -2**31, T.INT32)
    add("t.uint64", 2**64 - 1, T.UINT64)
    add("t.int64", -2**63, T.INT64)
    add("t.uint64.zero", 0, T.UINT64)
    add("t.float32", 1 / 3, T.FLOAT32)
    add("t.float32.negative_zero", -0.0, T.FLOAT32)
    add("t.float32.inf", float("inf"), T.FLOAT32)
    add("t.float32.nan", float("nan"), T.FLOAT32)
    add("t.float32.denormal", 1e-45, T.FLOAT32)
    add("t.float32.max", 3.4028234663852886e38, T.FLOAT32)
    add("t.float64", 3.141592653589793, T.FLOAT64)
    add("t.float64.negative_zero", -0.0, T.FLOAT64)
    add("t.float64.negative_inf", float("-inf"), T.FLOAT64)
    add("t.float64.denormal", 5e-324, T.FLOAT64)
    add("t.bool.true", True, T.BOOL)
    add("t.bool.false", False, T.BOOL)
    add("t.string", "hello", T.STRING)
    add("t.string.empty", "", T.STRING)
    add("t.string.utf8", "h\u00e9llo w\u00f6rld \u2014 \u65e5\u672c\u8a9e \U0001f999", T.STRING)
    add("t.string.controls", "a\x00b\nc\td\"e\\f", T.STRING)
    add("t.string.long", "x" * 5000, T.STRING)
    add("t.key.\u00fcnicode", 1, T.UINT8)

    add("t.array.uint8", [0, 1, 255], T.ARRAY, T.UINT8)
    add("t.array.int8", [-128, 0, 127], T.ARRAY, T.INT8)
    add("t.array.uint16", [0, 65535], T.ARRAY, T.UINT16)
    add("t.array.int16", [-32768, 32767], T.ARRAY, T.INT16)
    add("t.array.uint32", [0, 2**32 - 1], T.ARRAY, T.UINT32)
    add("t.array.int32", [-2**31, 2**31 - 1], T.ARRAY, T.INT32)
    add("t.array.uint64", [0, 2**64 - 1], T.ARRAY, T.UINT64)
    add("t.array.int64", [-2**63, 2**63 - 1], T.ARRAY, T.INT64)
    add("t.array.float32", [0.1, -0.0, float("inf"), float("-inf"), float("nan"), 1e-45],
        T.ARRAY, T.FLOAT32)
    add("t.array.float64", [0.1, -0.0, float("nan"), 5e-324, 1.7976931348623157e308],
        T.ARRAY, T.FLOAT64)
    add("t.array.bool", [True, False, True], T.ARRAY, T.BOOL)
    add("t.array.string", ["a", "", "\u00e9\u65e5\U0001f999", "with\nnewline"], T.ARRAY, T.STRING)
    add("t.array.one", [7], T.ARRAY, T.INT32)
    add("t.array.inferred_int", [1, -2, 3], T.ARRAY)  # GGUFWriter picks int32
    add("t.array.inferred_float", [1.5, 2.25], T.ARRAY)  # and float32
    add("t.array.big", list(range(20000)), T.ARRAY, T.UINT32)
    # Nested arrays: GGUFWriter types inner arrays from their first element, and inner arrays
    # may differ in element type.
    add("t.array.nested.int32", [[1, 2, 3], [4], [5, 6]], T.ARRAY)
    add("t.array.nested.string", [["a", "b"], ["\u00e9"]], T.ARRAY)
    add("t.array.nested.mixed", [[1, 2], ["x"], [True], [0.5]], T.ARRAY)
    add("t.array.nested.deep", [[[1, 2], [3]], [[4]]], T.ARRAY)
    # GGUFWriter refuses empty arrays ("Invalid GGUF metadata array. Empty array"), so the files
    # tessera writes cover those.


def random_bytes(rng, n: int) -> bytes:
    return rng.integers(0, 256, size=n, dtype=np.uint8).tobytes()


class TensorSink:
    """Adds tensors to a writer and keeps their bytes, for the manifest."""

    def __init__(self, writer, alignment, blob):
        self.writer = writer
        self.alignment = alignment
        self.blob = blob
        self.offset = 0
        self.expected = []

    def add_raw(self, name, ggml_shape, qtype: GGMLQuantizationType, data: bytes):
        block_size, block_bytes = GGML_QUANT_SIZES[qtype]
        assert ggml_shape[0] % block_size == 0
        row_bytes = ggml_shape[0] // block_size * block_bytes
        byte_shape = tuple(reversed(ggml_shape[1:])) + (row_bytes,)
        array = np.frombuffer(data, dtype=np.uint8).reshape(byte_shape)
        self.writer.add_tensor(name, array, raw_dtype=qtype)
        self.record(name, ggml_shape, int(qtype), data)

    def add_native(self, name, array: np.ndarray, qtype: GGMLQuantizationType):
        self.writer.add_tensor(name, array)  # GGUFWriter picks the type from the dtype
        self.record(name, list(reversed(array.shape)), int(qtype), array.tobytes())

    def record(self, name, ggml_shape, type_id, data):
        self.expected.append({"name": name, "shape": list(ggml_shape), "type": type_id,
                              "offset": self.offset, "n_bytes": len(data),
                              "source_offset": self.blob.tell()})
        self.blob.write(data)
        self.offset += gguf.GGUFWriter.ggml_pad(len(data), self.alignment)


def finish(w: gguf.GGUFWriter) -> None:
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_file(directory, name, alignment, fill) -> dict:
    path = os.path.join(directory, name + ".gguf")
    blob_path = os.path.join(directory, name + ".tensors")
    w = gguf.GGUFWriter(path, arch="crosscheck")
    if alignment != gguf.GGUF_DEFAULT_ALIGNMENT:
        w.add_custom_alignment(alignment)
    with open(blob_path, "wb") as blob:
        sink = TensorSink(w, alignment, blob)
        fill(w, sink)
    expected = {"version": gguf.GGUF_VERSION, "alignment": alignment,
                "metadata": intended_metadata(w), "tensors": sink.expected}
    finish(w)
    return {"path": path, "tensor_bytes": blob_path, "expected": expected}


def write(directory: str, type_ids: list) -> dict:
    rng = np.random.default_rng(SEED)
    shapes_by_rank = ([], [3], [2, 3], [2, 1, 2])  # the dimensions after the row

    def every_type(w, sink):
        add_values(w)
        for i, type_id in enumerate(type_ids):
            qtype = GGMLQuantizationType(type_id)
            block_size, block_bytes = GGML_QUANT_SIZES[qtype]
            # Rows of 1 to 3 blocks; for one-element blocks, odd rows so that padding follows.
            row = block_size * (1 + i % 3) if block_size > 1 else 7 + 2 * (i % 3)
            shape = [row] + shapes_by_rank[i % 4]
            n_bytes = int(np.prod(shape)) // block_size * block_bytes
            sink.add_raw(f"raw.{qtype.name.lower()}", shape, qtype, random_bytes(rng, n_bytes))
        Q = GGMLQuantizationType
        sink.add_native("native.f32", rng.standard_normal((3, 5)).astype(np.float32), Q.F32)
        sink.add_native("native.f16", rng.standard_normal((2, 3, 5)).astype(np.float16), Q.F16)
        sink.add_native("native.f64", rng.standard_normal((3,)), Q.F64)
        sink.add_native("native.i8", rng.integers(-128, 128, (5,), dtype=np.int8), Q.I8)
        sink.add_native("native.i16", rng.integers(-9, 9, (1, 2, 3, 3), dtype=np.int16), Q.I16)
        sink.add_native("native.i32", rng.integers(-9, 9, (4, 1), dtype=np.int32), Q.I32)
        sink.add_native("native.i64", rng.integers(-9, 9, (2,), dtype=np.int64), Q.I64)

    def few_tensors(w, sink):
        w.add_key_value("t.note", "odd tensor sizes around the alignment", GGUFValueType.STRING)
        Q = GGMLQuantizationType
        sink.add_raw("a", [5], Q.I8, random_bytes(rng, 5))
        sink.add_raw("b", [3, 3], Q.F32, random_bytes(rng, 36))
        sink.add_raw("c", [32], Q.Q4_0, random_bytes(rng, 18))
        sink.add_raw("d", [1], Q.F16, random_bytes(rng, 2))
        sink.add_raw("e", [64, 2], Q.Q8_0, random_bytes(rng, 136))

    def metadata_only(w, sink):
        w.add_key_value("t.only", 42, GGUFValueType.UINT32)

    files = [
        write_file(directory, "every_type", 32, every_type),
        write_file(directory, "align64", 64, few_tensors),
        write_file(directory, "align1", 1, few_tensors),
        write_file(directory, "metadata_only", 32, metadata_only),
    ]
    for f in files:
        f["dump"] = describe(f["path"])
    return {"files": files}


def types() -> dict:
    return {str(int(t)): {"name": t.name, "block_size": GGML_QUANT_SIZES[t][0],
                          "block_bytes": GGML_QUANT_SIZES[t][1]}
            for t in GGMLQuantizationType if t in GGML_QUANT_SIZES}


# --- main ------------------------------------------------------------------------------------

def dump(paths: list) -> dict:
    if len(paths) == 1:
        return {paths[0]: describe(paths[0])}
    # Largest first, so that the longest reads start early and the workers finish together.
    largest_first = sorted(paths, key=lambda p: os.path.getsize(p) if os.path.isfile(p) else 0,
                           reverse=True)
    workers = min(len(paths), os.cpu_count() or 1)
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
        described = dict(zip(largest_first, pool.map(describe, largest_first)))
    return {p: described[p] for p in paths}


def main() -> int:
    args = sys.argv[1:]
    if len(args) == 3 and args[0] == "write" and args[2].startswith("--types="):
        type_ids = [int(t) for t in args[2][len("--types="):].split(",") if t]
        result = write(args[1], type_ids)
    elif len(args) >= 2 and args[0] == "dump":
        result = dump(args[1:])
    elif args == ["types"]:
        result = types()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    sys.stdout.buffer.write(json.dumps(result, ensure_ascii=False).encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
