#!/usr/bin/env python3
"""Tiny random models made with Hugging Face transformers, turned into GGUF, with transformers'
logits for fixed token sequences: independent references for tessera's forward pass.

    make_tiny_models.py [--out DIR] [--arch NAME ...] [--skip-gguf-load-check]
                        [--quantize DIR --tessera PATH]

For each architecture (llama, qwen2, qwen3, gemma3) the script

  1. builds a tiny config with transformers' own config class (LlamaConfig, Qwen2Config,
     Qwen3Config, Gemma3TextConfig; see CONFIGS), initialises a model with a fixed seed (weights
     scaled so that logits are not tiny and attention is far from uniform) and save_pretrained()s
     it into a temporary folder;
  2. converts that folder (config.json + model.safetensors) into DIR/<arch>.gguf with F32 weights
     using the PyPI gguf package's GGUFWriter, following llama.cpp's convert_hf_to_gguf.py (the
     TextModel, LlamaModel, Qwen2Model, Qwen3Model and Gemma3Model classes): the same tensor names
     (gguf's own TensorNameMap, which the converter uses), LlamaModel.permute on the q/k rows of
     llama (GGUF llama runs normal-style RoPE where HF rotates halves), none for qwen2, qwen3 and
     gemma3, Gemma's "+ 1" on every norm weight, and the `<arch>.*` keys the converter writes
     (see write_gguf). The tokenizer section is a dummy of the right size: the tests feed ids;
  3. reloads the saved model and runs it over SEQUENCES (lengths 7, 20 and 40; 40 is longer
     than gemma3's sliding window of 8) in float64 with sdpa attention (the reference: float64
     throughout but for the RMS norms, which transformers computes in float32), and writes the
     logits of every position of every sequence to DIR/<arch>.logits.bin, described in
     DIR/<arch>.logits.json;
  4. unless --skip-gguf-load-check, loads DIR/<arch>.gguf back with transformers' own GGUF loader
     (AutoModelForCausalLM.from_pretrained(dir, gguf_file=...)), which undoes llama's permutation
     and Gemma's "+ 1" itself, and checks that it gives the same logits: an independent check of
     the names, the permutation and the norm convention. The keys that loader does not map
     (Qwen 3's and Gemma 3's head_dim, Gemma 3's sliding-window RoPE base and query scale) are
     passed to it from the original config;
  5. measures, for the test's tolerances, what ggml's arithmetic costs on the same model:
     float32 (transformers' eager attention), an F16 KV cache (q, k, v rounded to float16 before
     attention: ggml's flash attention converts queries to the cache's type, and tessera's CPU
     backend does too), and Q8_0 weights with and without ggml's Q8_0 activations.

With --quantize DIR it also writes DIR/<arch>.q8_0.gguf, each fixture requantized by tessera's
own `tessera quantize IN OUT Q8_0 --pure` (--tessera names the binary). These are not
committed; tests/reference_logits_test.cpp makes the same files itself (through the runtime's
quantize_model) to check quantized weights against the same references with a looser tolerance.

The logits files. <arch>.logits.bin is raw little-endian float32, the sequences one after the
other, each [n_tokens][n_vocab] row-major (position-major). <arch>.logits.json:
    {"arch", "gguf": "<arch>.gguf", "logits": "<arch>.logits.bin", "dtype": "float32",
     "n_vocab", "reference": "float64",
     "sequences": [{"tokens": [...], "offset": first float of this sequence in the .bin,
                    "shape": [n_tokens, n_vocab]}, ...],
     "f32_rel_error": transformers in float32, "eager_f64_rel_error": eager attention (softmax
     in float32), "f16_qkv_rel_error": q, k, v rounded to float16,
     "gguf_load_back_rel_error": transformers' GGUF loader on <arch>.gguf (null if not checked),
     "q8_0_weights_rel_error": every 2-D weight through Q8_0 (and an F16 cache),
     "q8_0_sim_rel_error": the same and every weight product's input through Q8_0 (ggml's
     arithmetic for Q8_0 weights: what a runtime running the --pure Q8_0 file should show),
     "attention": {"max_weight": the mean over layers, heads and query rows of the largest
                   attention weight (40-token sequence), "uniform_max_weight": the same for
                   uniform attention},
     "transformers", "torch": versions, "config": the HF config as saved}
A "rel error" is max over positions p of ||a_p - b_p||_inf / ||b_p||_inf (b the reference).

Needs torch, transformers, gguf and numpy (see tests/refgen/README.md); CI does not run this.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import (AutoModelForCausalLM, Gemma3TextConfig, LlamaConfig, Qwen2Config,
                          Qwen3Config)

import gguf

SEED = 20250611
# Token sequences fed to every model (ids below every vocabulary size used here).
SEQUENCE_LENGTHS = (7, 20, 40)
MIN_VOCAB = 256


def sequences():
    rng = np.random.default_rng(SEED)
    return [rng.integers(0, MIN_VOCAB, size=n).tolist() for n in SEQUENCE_LENGTHS]


SEQUENCES = sequences()


# --------------------------------------------------------------------------------------------
# The tiny configurations. Every value that has a default is set to something else, so that a
# key the runtime ignores or misreads shows.

def llama_config():
    # Untied output, GQA 4:2, explicit head_dim, rope theta and rms eps off their defaults.
    return LlamaConfig(
        vocab_size=288, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16,
        max_position_embeddings=256, rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 50000.0},
        tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
        bos_token_id=1, eos_token_id=2)


def qwen2_config():
    # Qwen 2 always has q/k/v biases; tied output; GQA 4:1.
    return Qwen2Config(
        vocab_size=320, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=512,
        rms_norm_eps=2e-6, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        tie_word_embeddings=True, use_sliding_window=False,
        bos_token_id=0, eos_token_id=1)


def qwen3_config():
    # Per-head q/k norms, head_dim 32 != 64 / 4, tied output like the small Qwen 3 models,
    # GQA 4:2.
    return Qwen3Config(
        vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=32,
        max_position_embeddings=1024, rms_norm_eps=3e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 20000.0},
        tie_word_embeddings=True, attention_bias=False, use_sliding_window=False,
        bos_token_id=0, eos_token_id=1)


def gemma3_config():
    # Seven layers with the default 5:1 pattern: sliding, x5, full, sliding. Sliding window 8,
    # shorter than the 20- and 40-token sequences. head_dim 32 != 64 / 4; GQA 4:1; RoPE bases
    # 100000 (global) and 5000 (local), both off their defaults; query_pre_attn_scalar =
    # head_dim, as llama.cpp assumes for every size but 27B; tied output.
    return Gemma3TextConfig(
        vocab_size=272, hidden_size=64, intermediate_size=96, num_hidden_layers=7,
        num_attention_heads=4, num_key_value_heads=1, head_dim=32,
        max_position_embeddings=2048, rms_norm_eps=1e-5,
        rope_parameters={
            "full_attention": {"rope_type": "default", "rope_theta": 100000.0},
            "sliding_attention": {"rope_type": "default", "rope_theta": 5000.0},
        },
        sliding_window=8, query_pre_attn_scalar=32, hidden_activation="gelu_pytorch_tanh",
        final_logit_softcapping=None, attn_logit_softcapping=None,
        tie_word_embeddings=True, pad_token_id=0, eos_token_id=1, bos_token_id=2)


CONFIGS = {
    "llama": llama_config,
    "qwen2": qwen2_config,
    "qwen3": qwen3_config,
    "gemma3": gemma3_config,
}
ARCH_SEED = {"llama": 1, "qwen2": 2, "qwen3": 3, "gemma3": 4}


def make_model(arch):
    """A model of CONFIGS[arch] with seeded weights: matrices N(0, 0.1) (a 64-wide dot product
    of unit activations then has a spread near 0.8, so logits are far from 0), biases
    N(0, 0.1), norm weights near 1 (Gemma's, stored as w and applied as 1 + w, near 0). The
    attention is made sharp, so that a wrong position, mask or window shows: q and k
    projections N(0, 0.25) where queries and keys are not normed (llama, qwen2), q/k norm
    weights near 2 where they are (qwen3, gemma3)."""
    config = CONFIGS[arch]()
    torch.manual_seed(SEED + ARCH_SEED[arch])
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager",
                                             dtype=torch.float32)
    gemma = arch == "gemma3"
    shift = 1.0 if gemma else 0.0  # what the model adds to its norm weights
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("q_norm.weight", "k_norm.weight")):
                p.copy_(1.5 - shift + 0.1 * torch.randn_like(p))
            elif name.endswith(("post_attention_layernorm.weight",
                                "post_feedforward_layernorm.weight")) and gemma:
                # Gemma's norms of the branch outputs: each layer adds a third of the residual's
                # size, as in trained models, rather than replacing it.
                p.copy_(0.3 - shift + 0.05 * torch.randn_like(p))
            elif name.endswith("norm.weight"):
                p.copy_(1.0 - shift + 0.1 * torch.randn_like(p))
            elif name.endswith("embed_tokens.weight") and gemma:
                # Gemma scales embeddings by sqrt(hidden); keep them near unit size after that.
                p.normal_(0.0, 0.15)
            elif name.endswith("embed_tokens.weight"):
                p.normal_(0.0, 1.0)
            elif name.endswith(("q_proj.weight", "k_proj.weight")) and arch in ("llama", "qwen2"):
                p.normal_(0.0, 0.18)
            else:
                p.normal_(0.0, 0.1)
    model.eval()
    return model


# --------------------------------------------------------------------------------------------
# Conversion, after convert_hf_to_gguf.py

GGUF_ARCH = {
    "llama": gguf.MODEL_ARCH.LLAMA,
    "qwen2": gguf.MODEL_ARCH.QWEN2,
    "qwen3": gguf.MODEL_ARCH.QWEN3,
    "gemma3": gguf.MODEL_ARCH.GEMMA3,
}


def llama_permute(weights, n_head, n_head_kv):
    """LlamaModel.permute: within each head, rows (0, 1, 2, ..., d-1) of HF's NeoX half-split
    layout become interleaved pairs (0, d/2, 1, d/2+1, ...), which normal-style RoPE rotates."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


def find_hparam(hparams, keys, optional=False):
    for key in keys:
        if key in hparams:
            return hparams[key]
    if optional:
        return None
    raise KeyError(f"none of {keys} in config.json")


def rope_parameters(hparams):
    # transformers 5 writes rope_parameters; older configs rope_theta (+ rope_local_base_freq).
    params = hparams.get("rope_parameters")
    if params is None:
        params = {"rope_theta": hparams.get("rope_theta")}
        if "rope_local_base_freq" in hparams:
            params = {"full_attention": params,
                      "sliding_attention": {"rope_theta": hparams["rope_local_base_freq"]}}
    return params


def write_tokenizer(writer, arch, n_vocab, hparams):
    """A dummy tokenizer of n_vocab tokens, in the shape the converter writes: SentencePiece
    ("llama": tokens, scores, token types) for llama and gemma3, byte-level BPE ("gpt2": tokens,
    token types, merges, pre-tokenizer "qwen2") for the Qwens."""
    if arch in ("llama", "gemma3"):
        if arch == "gemma3":
            specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
        else:
            specials = ["<unk>", "<s>", "</s>"]
        tokens = specials + [f"<0x{b:02X}>" for b in range(256)]
        tokens += [f"\u2581t{i}" for i in range(n_vocab - len(tokens))]
        types = ([gguf.TokenType.CONTROL] * len(specials) + [gguf.TokenType.BYTE] * 256 +
                 [gguf.TokenType.NORMAL] * (n_vocab - len(specials) - 256))
        if arch == "llama":
            types[0] = gguf.TokenType.UNKNOWN
        scores = [0.0] * len(specials) + [0.0] * 256 + [-float(i) for i in
                                                         range(n_vocab - len(specials) - 256)]
        writer.add_tokenizer_model("llama")
        writer.add_tokenizer_pre("default")
        writer.add_token_list(tokens)
        writer.add_token_scores(scores)
        writer.add_token_types(types)
        unk = 3 if arch == "gemma3" else 0
        writer.add_unk_token_id(unk)
    else:
        # GPT-2's byte-to-unicode table: 256 one-character tokens, then merged pairs.
        bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
            list(range(ord("®"), ord("ÿ") + 1))
        cs = bs[:]
        n = 0
        for b in range(256):
            if b not in bs:
                bs.append(b)
                cs.append(256 + n)
                n += 1
        byte_chars = [chr(c) for c in cs]
        tokens = list(byte_chars)
        merges = []
        letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
        i = 0
        while len(tokens) < n_vocab - 2:
            a, b = letters[i % 26], letters[(i // 26) % 26]
            if a + b not in tokens:
                tokens.append(a + b)
                merges.append(f"{a} {b}")
            i += 1
        tokens += ["<|endoftext|>", "<|im_end|>"]
        types = [gguf.TokenType.NORMAL] * (n_vocab - 2) + [gguf.TokenType.CONTROL] * 2
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("qwen2")
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        writer.add_token_merges(merges)
    if len(tokens) != n_vocab:
        raise ValueError(f"{arch}: {len(tokens)} dummy tokens for a vocabulary of {n_vocab}")
    if hparams.get("bos_token_id") is not None:
        writer.add_bos_token_id(hparams["bos_token_id"])
    if hparams.get("eos_token_id") is not None:
        writer.add_eos_token_id(hparams["eos_token_id"])
    if hparams.get("pad_token_id") is not None:
        writer.add_pad_token_id(hparams["pad_token_id"])


def write_gguf(arch, model_dir, out_path):
    """Converts a save_pretrained() folder into an F32 GGUF file as convert_hf_to_gguf.py does
    (--outtype f32): metadata of TextModel.set_gguf_parameters and the architecture's
    override, then every tensor renamed, llama's q/k permuted, Gemma's norms shifted by 1."""
    from safetensors.numpy import load_file

    hparams = json.loads((Path(model_dir) / "config.json").read_text())
    tensors = load_file(str(Path(model_dir) / "model.safetensors"))
    gguf_arch = GGUF_ARCH[arch]
    arch_name = gguf.MODEL_ARCH_NAMES[gguf_arch]
    n_layer = hparams["num_hidden_layers"]
    n_head = hparams["num_attention_heads"]
    n_head_kv = hparams.get("num_key_value_heads")
    rope = rope_parameters(hparams)
    full_rope = rope.get("full_attention", rope)

    writer = gguf.GGUFWriter(str(out_path), arch_name)
    # prepare_metadata: the type, a name, and the file type of --outtype f32.
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(f"tessera tiny {arch}")
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

    # TextModel.set_gguf_parameters
    writer.add_block_count(n_layer)
    writer.add_context_length(hparams["max_position_embeddings"])
    writer.add_embedding_length(hparams["hidden_size"])
    writer.add_feed_forward_length(hparams["intermediate_size"])
    writer.add_head_count(n_head)
    if n_head_kv is not None:
        writer.add_head_count_kv(n_head_kv)
    if full_rope.get("rope_type", "default") not in ("default", None):
        raise ValueError(f"rope type {full_rope['rope_type']}: not used by these fixtures")
    writer.add_rope_freq_base(full_rope["rope_theta"])
    if (swa_theta := rope.get("sliding_attention", {}).get("rope_theta")) is not None:
        writer.add_rope_freq_base_swa(swa_theta)
    writer.add_layer_norm_rms_eps(hparams["rms_norm_eps"])
    if hparams.get("head_dim") is not None:
        writer.add_key_length(hparams["head_dim"])
        writer.add_value_length(hparams["head_dim"])
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    if arch == "llama":  # LlamaModel.set_gguf_parameters
        writer.add_vocab_size(hparams["vocab_size"])
        rope_dim = hparams.get("head_dim") or hparams["hidden_size"] // n_head
        writer.add_rope_dimension_count(rope_dim)
    if arch == "gemma3":  # Gemma3Model.set_gguf_parameters (rewrites some keys: same values)
        assert hparams.get("attn_logit_softcapping") is None
        if hparams.get("final_logit_softcapping"):
            writer.add_final_logit_softcapping(hparams["final_logit_softcapping"])
        if hparams.get("sliding_window_pattern") != 1:
            writer.add_sliding_window(hparams["sliding_window"])

    write_tokenizer(writer, arch, hparams["vocab_size"], hparams)

    # Tensors, in the order of the safetensors file (sorted by name), as the converter goes.
    name_map = gguf.get_tensor_name_map(gguf_arch, n_layer)
    for hf_name in tensors:
        data = tensors[hf_name].astype(np.float32)
        if arch == "llama":
            if hf_name.endswith(("q_proj.weight", "q_proj.bias")):
                data = llama_permute(data, n_head, n_head)
            if hf_name.endswith(("k_proj.weight", "k_proj.bias")):
                data = llama_permute(data, n_head, n_head_kv)
        if arch == "gemma3" and hf_name.endswith("norm.weight"):
            data = data + np.float32(1.0)  # Gemma3RMSNorm multiplies by (1 + weight)
        new_name = name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if new_name is None:
            raise ValueError(f"{arch}: no GGUF name for {hf_name}")
        writer.add_tensor(new_name, np.ascontiguousarray(data, dtype=np.float32),
                          raw_dtype=gguf.GGMLQuantizationType.F32)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# --------------------------------------------------------------------------------------------
# Running transformers

def rel_error(ours, ref):
    """max over positions of ||ours_p - ref_p||_inf / ||ref_p||_inf."""
    diff = np.abs(np.asarray(ours, np.float64) - np.asarray(ref, np.float64)).max(axis=-1)
    return float((diff / np.abs(np.asarray(ref, np.float64)).max(axis=-1)).max())


def run_logits(model, dtype):
    model = model.to(dtype)
    out = []
    with torch.no_grad():
        for tokens in SEQUENCES:
            ids = torch.tensor([tokens], dtype=torch.long)
            out.append(model(input_ids=ids, use_cache=False).logits[0].to(torch.float64).numpy())
    return out


def max_attention_weight(model):
    """The mean over (layer, head, query row) of the largest attention weight, and what it
    would be for uniform attention over the keys each row sees (1 / n_visible)."""
    model = model.to(torch.float64)
    tokens = SEQUENCES[-1]
    with torch.no_grad():
        out = model(input_ids=torch.tensor([tokens]), output_attentions=True, use_cache=False)
    peaks = [a[0].max(dim=-1).values.mean().item() for a in out.attentions]
    uniform = [(1.0 / (a[0] > 0).sum(dim=-1).to(torch.float64)).mean().item()
               for a in out.attentions]
    return {"max_weight": float(np.mean(peaks)), "uniform_max_weight": float(np.mean(uniform))}


def rounded_attention(dtype):
    """sdpa attention with q, k, v rounded to `dtype` first (float16: an F16 KV cache, and
    ggml's flash attention converting queries to the cache's type; None: no rounding)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    def attention(module, query, key, value, attention_mask, **kwargs):
        if dtype is not None:
            query, key, value = (t.to(dtype).to(query.dtype) for t in (query, key, value))
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    return attention


def logits_with(model_dir, attn_implementation, dtype=torch.float64):
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype,
                                                 attn_implementation=attn_implementation)
    return run_logits(model, dtype)


def rounded_logits(model_dir, dtype):
    name = f"tessera_sdpa_{'none' if dtype is None else str(dtype).split('.')[-1]}"
    transformers.AttentionInterface.register(name, rounded_attention(dtype))
    transformers.AttentionMaskInterface.register(name, transformers.masking_utils.sdpa_mask)
    return logits_with(model_dir, name)


def q8_0_roundtrip(array):
    """float32 values through Q8_0 and back, with gguf's bit-exact port of ggml's quantizer."""
    q = gguf.quants.quantize(np.ascontiguousarray(array, dtype=np.float32),
                             gguf.GGMLQuantizationType.Q8_0)
    return gguf.quants.dequantize(q, gguf.GGMLQuantizationType.Q8_0).reshape(array.shape)


def q8_0_activations(module, args):
    """A Linear's input as ggml's Q8_0 matrix product sees it: rows quantized to Q8_0 (blocks of
    32, scale amax / 127 stored as float16, values rounded to int8)."""
    (x,) = args
    rounded = q8_0_roundtrip(x.detach().to(torch.float32).numpy().reshape(-1, x.shape[-1]))
    return (torch.from_numpy(rounded.reshape(x.shape)).to(x.dtype),)


def q8_0_sim_logits(model_dir, activations):
    """What a runtime doing ggml's arithmetic gives for the model requantized to Q8_0 --pure:
    every 2-D weight through Q8_0 (norms and biases stay float32), q, k, v rounded to float16
    (an F16 KV cache) and, if `activations`, every weight product's input through Q8_0 too (ggml
    multiplies a Q8_0 weight by Q8_0 activations). float64 otherwise."""
    name = "tessera_sdpa_float16"
    transformers.AttentionInterface.register(name, rounded_attention(torch.float16))
    transformers.AttentionMaskInterface.register(name, transformers.masking_utils.sdpa_mask)
    model = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation=name,
                                                 dtype=torch.float64)
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.dim() == 2:
                p.copy_(torch.from_numpy(q8_0_roundtrip(p.to(torch.float32).numpy())))
    if activations:
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                module.register_forward_pre_hook(q8_0_activations)
    return run_logits(model, torch.float64)


def gguf_load_back_logits(arch, gguf_path, config):
    """transformers' own GGUF loader on our file; keys it does not map come from `config`."""
    overrides = {}
    if arch in ("qwen3", "gemma3"):
        overrides["head_dim"] = config.head_dim
    if arch == "gemma3":
        overrides["query_pre_attn_scalar"] = config.query_pre_attn_scalar
        overrides["rope_parameters"] = config.rope_parameters
    model = AutoModelForCausalLM.from_pretrained(
        str(Path(gguf_path).parent), gguf_file=Path(gguf_path).name, dtype=torch.float64,
        attn_implementation="eager", **overrides)
    loaded = model.config
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "intermediate_size", "vocab_size", "tie_word_embeddings",
                "rms_norm_eps"):
        a, b = getattr(loaded, key), getattr(config, key)
        # GGUF stores floats as float32.
        if (abs(a - b) > 1e-6 * abs(b)) if isinstance(b, float) else a != b:
            raise AssertionError(f"{arch}: GGUF load-back config {key} = {a}, expected {b}")
    return run_logits(model, torch.float64)


# --------------------------------------------------------------------------------------------

def make_arch(arch, out_dir, check_gguf_load):
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix=f"tiny-{arch}-") as tmp:
        model_dir = Path(tmp) / "hf"
        model = make_model(arch)
        model.save_pretrained(model_dir)
        gguf_path = Path(out_dir) / f"{arch}.gguf"
        write_gguf(arch, model_dir, gguf_path)

        # The reference: float64 throughout but for the norms, which transformers computes in
        # float32 whatever the dtype (relative noise ~1e-7); sdpa, whose softmax stays in
        # float64 (eager's is float32).
        f64 = logits_with(model_dir, "sdpa")
        f32 = logits_with(model_dir, "eager", torch.float32)
        eager64 = logits_with(model_dir, "eager")
        unrounded = rounded_logits(model_dir, None)  # checks the custom attention's mask
        f16 = rounded_logits(model_dir, torch.float16)
        model = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="eager",
                                                     dtype=torch.float64)
        config = model.config
        attention_peak = max_attention_weight(model)
        load_back = None
        if check_gguf_load:
            load_back = gguf_load_back_logits(arch, gguf_path, config)

        def err(logits):
            return max(rel_error(a, b) for a, b in zip(logits, f64))
        errors = {
            "f32_rel_error": err(f32),
            "eager_f64_rel_error": err(eager64),
            "f16_qkv_rel_error": err(f16),
            "gguf_load_back_rel_error": None if load_back is None else err(load_back),
            "q8_0_weights_rel_error": err(q8_0_sim_logits(model_dir, activations=False)),
            "q8_0_sim_rel_error": err(q8_0_sim_logits(model_dir, activations=True)),
        }
        if err(unrounded) > 1e-12:
            raise AssertionError(f"{arch}: the custom attention disagrees with sdpa "
                                 f"({err(unrounded):.3g}); its mask is wrong")
        if errors["eager_f64_rel_error"] > 1e-5:
            raise AssertionError(f"{arch}: eager and sdpa attention disagree "
                                 f"({errors['eager_f64_rel_error']:.3g})")
        # transformers runs GGUF weights through float32 kernels whatever the dtype asked for:
        # float32 noise (~1e-6), where a wrong name, permutation or norm shift gives O(1).
        if load_back is not None and errors["gguf_load_back_rel_error"] > 1e-4:
            raise AssertionError(f"{arch}: transformers reading {gguf_path} back gives other "
                                 f"logits (rel error {errors['gguf_load_back_rel_error']:.3g})")

        blob = np.concatenate([l.astype("<f4").reshape(-1) for l in f64])
        bin_path = Path(out_dir) / f"{arch}.logits.bin"
        blob.tofile(bin_path)
        offset = 0
        described = []
        for tokens, logits in zip(SEQUENCES, f64):
            described.append({"tokens": tokens, "offset": offset, "shape": list(logits.shape)})
            offset += logits.size
        saved_config = json.loads((model_dir / "config.json").read_text())
        description = {
            "arch": arch,
            "gguf": gguf_path.name,
            "logits": bin_path.name,
            "dtype": "float32",
            "n_vocab": config.vocab_size,
            "reference": "float64",
            "sequences": described,
            **errors,
            "attention": attention_peak,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "config": saved_config,
        }
        json_path = Path(out_dir) / f"{arch}.logits.json"
        text = json.dumps(description, indent=1)
        # Lists of numbers on one line each.
        text = re.sub(r"\[\s+([-+0-9.e,\s]+?)\s+\]",
                      lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
        json_path.write_text(text + "\n")
        # The smallest gap between the two largest logits of a position, relative to the
        # position's largest |logit|: where it is below a tolerance, greedy choices may differ.
        margin = min(float(((top2 := np.sort(l, axis=-1)[:, -2:])[:, 1] - top2[:, 0]).min() /
                           np.abs(l).max()) for l in f64)
        print(f"{arch}: {gguf_path} ({gguf_path.stat().st_size} bytes), {bin_path} "
              f"({bin_path.stat().st_size} bytes); logit spread {np.std(f64[-1]):.3f}, "
              f"attention peak {attention_peak['max_weight']:.3f} (uniform "
              f"{attention_peak['uniform_max_weight']:.3f}), smallest top-2 margin "
              f"{margin:.2e}; " +
              ", ".join(f"{k} {v:.3g}" for k, v in errors.items() if v is not None))


def quantize(arch, out_dir, quant_dir, tessera):
    """`tessera quantize <arch>.gguf <arch>.q8_0.gguf Q8_0 --pure`, then checks the result
    against gguf's port of ggml's quantizer: every 2-D tensor Q8_0 with the same bytes, every
    other one unchanged."""
    src = Path(out_dir) / f"{arch}.gguf"
    dst = Path(quant_dir) / f"{arch}.q8_0.gguf"
    subprocess.run([tessera, "quantize", str(src), str(dst), "Q8_0", "--pure"], check=True,
                   stdout=subprocess.DEVNULL)
    f32 = {t.name: t for t in gguf.GGUFReader(str(src)).tensors}
    q8 = {t.name: t for t in gguf.GGUFReader(str(dst)).tensors}
    if set(f32) != set(q8):
        raise AssertionError(f"{dst}: other tensors than {src}")
    for name, tensor in f32.items():
        data = np.asarray(tensor.data, dtype=np.float32)
        expected_type = (gguf.GGMLQuantizationType.Q8_0 if len(tensor.shape) == 2
                         else gguf.GGMLQuantizationType.F32)
        expected = gguf.quants.quantize(data, expected_type)
        got = q8[name]
        if got.tensor_type != expected_type or \
                np.asarray(got.data).tobytes() != np.asarray(expected).tobytes():
            raise AssertionError(f"{dst}: {name} is not what ggml's Q8_0 quantizer makes")
    print(f"{arch}: {dst} ({dst.stat().st_size} bytes), every tensor as gguf.quants makes it")


def main():
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(here.parent / "fixtures" / "tiny"),
                        help="where the fixtures go (default: tests/fixtures/tiny)")
    parser.add_argument("--arch", nargs="*", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--skip-gguf-load-check", action="store_true",
                        help="do not load the GGUF files back with transformers")
    parser.add_argument("--quantize", metavar="DIR",
                        help="also write DIR/<arch>.q8_0.gguf with `tessera quantize ... --pure`")
    parser.add_argument("--tessera", default=str(here.parents[1] / "build" / "bin" / "tessera"),
                        help="the tessera binary for --quantize")
    args = parser.parse_args()

    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    for arch in args.arch:
        make_arch(arch, args.out, not args.skip_gguf_load_check)
    if args.quantize:
        os.makedirs(args.quantize, exist_ok=True)
        for arch in args.arch:
            quantize(arch, args.out, args.quantize, args.tessera)
    return 0


if __name__ == "__main__":
    sys.exit(main())
