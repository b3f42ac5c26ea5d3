#!/usr/bin/env python3
"""Tiny synthetic models with speculative draft heads, for every architecture tessera runs, and
a numpy reference of their draft logits written from the papers:

    make_speculative_models.py [--out DIR] [--tiny DIR] [--arch NAME ...]

For each architecture (llama, qwen2, qwen3, gemma3) the script

  1. checks its numpy forward pass first: run over tests/fixtures/tiny/<arch>.gguf (the models
     make_tiny_models.py made with transformers) it must give transformers' logits stored next
     to them (relative error below 1e-4), so the base model's numbers below do not rest on
     tessera;
  2. draws a tiny random model (n_embd 32, 256 tokens, two main blocks) with one next-n block
     (llama.cpp's GGUF convention: `<arch>.nextn_predict_layers` = 1, block_count counting it,
     `blk.2.nextn.*` next to the block's ordinary tensors) and Medusa heads (tessera's
     convention, docs/speculative-heads.md: `medusa.head_count`, `medusa.layer_count`,
     `medusa.<k>.<l>.weight|bias`, optional `medusa.<k>.output.weight`), and writes it as
     DIR/<arch>.gguf with F32 weights and no tokenizer. The optional tensors vary between the
     architectures so that both the head's own tensor and the fallback to the model's are used:
     llama has its own next-n embedding and LM head, qwen3 has two next-n blocks (depths 0
     and 1) and no shared head norm, qwen2 stacks
     two residual blocks per Medusa head and one head without biases, and gemma3 has a final
     logit softcap and a sliding window shorter than the sequence;
  3. computes in float64, for the fixed token sequence SEQUENCE (t_0 .. t_{T-1}):
       - the main model's logits and final hidden states h_i (the LM head's input, after the
         final norm) at every index;
       - next-n (DeepSeek-V3 technical report, section 2.2, as the released checkpoints run it:
         embedding first): depth d at i = 0 .. T-2-d,
             h'_i = M [RMSNorm(Emb(t_{i+1+d})) * enorm ; RMSNorm(x_i) * hnorm]   (M = eh_proj)
         with x_i = h_i for d = 0 and depth d-1's block output otherwise, then the block (causal
         attention over the indices 0..i of the same depth, rotary position i + 1 + d), the
         shared head norm (else the model's final norm) and the LM head (nextn.shared_head_head,
         else the model's output), giving logits for t_{i+2+d};
       - Medusa (Cai et al. 2024, section 2.1.1): head k at index i is
             p_i^k = W_out^k (x_L),  x_{l+1} = x_l + SiLU(W_l^k x_l + b_l^k),  x_0 = h_i
         (W_out^k the head's own output, else the model's), predicting t_{i+2+k};
     with the model's final logit softcap applied to every logit, as to the model's own;
  4. writes them to DIR/<arch>.draft.bin (little-endian float32), described by
     DIR/<arch>.draft.json.

Needs numpy and gguf only. CI does not run it; tests/speculative_heads_test.cpp reads the
committed files.
"""
import argparse
import json
import math
from pathlib import Path

import numpy as np

import gguf

SEED = 20261128
SEQUENCE = [17, 3, 250, 96, 41, 41, 7, 199, 128, 64, 5, 230]
N_VOCAB = 256


# --------------------------------------------------------------------------------------------
# A GGUF model read into numpy (weights as float64 arrays, numpy order [out, in]).

class Model:
    def __init__(self, path):
        reader = gguf.GGUFReader(str(path))
        self.arch = reader.get_field("general.architecture").contents()

        def key(suffix, default=None):
            field = reader.get_field(f"{self.arch}.{suffix}")
            return default if field is None else field.contents()

        def plain(name, default=None):
            field = reader.get_field(name)
            return default if field is None else field.contents()

        self.n_nextn = key("nextn_predict_layers", 0)
        self.n_layer = key("block_count") - self.n_nextn
        self.n_embd = key("embedding_length")
        self.n_head = key("attention.head_count")
        self.n_head_kv = key("attention.head_count_kv", self.n_head)
        self.head_dim = key("attention.key_length", self.n_embd // self.n_head)
        self.n_rot = key("rope.dimension_count", self.head_dim)
        self.eps = key("attention.layer_norm_rms_epsilon")
        self.freq_base = key("rope.freq_base", 10000.0)
        self.freq_base_swa = key("rope.freq_base_swa", 10000.0)
        self.window = key("attention.sliding_window", 0) if self.arch == "gemma3" else 0
        self.softcap = key("final_logit_softcapping", 0.0) or 0.0
        self.n_medusa = plain("medusa.head_count", 0)
        self.n_medusa_layer = plain("medusa.layer_count", 1 if self.n_medusa else 0)
        self.w = {t.name: np.array(t.data, dtype=np.float64).reshape(
            [int(d) for d in reversed(t.shape)]) for t in reader.tensors}

    def has(self, name):
        return name in self.w

    def output(self):
        return self.w["output.weight"] if self.has("output.weight") else self.w["token_embd.weight"]

    def is_swa(self, layer):
        # llama.cpp's fixed Gemma 3 pattern of period 6; next-n blocks use full attention.
        return self.window > 0 and layer < self.n_layer and layer % 6 < 5


def rms_norm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def silu(x):
    return x / (1.0 + np.exp(-x))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def rope(x, positions, n_rot, base, neox):
    """x [T, heads, head_dim]: rotate dimension pairs by pos * base^(-2i / n_rot); normal style
    pairs (2i, 2i+1), NeoX style (i, i + n_rot / 2)."""
    out = x.copy()
    half = n_rot // 2
    freqs = base ** (-2.0 * np.arange(half) / n_rot)
    angles = np.asarray(positions, np.float64)[:, None] * freqs[None, :]  # [T, half]
    cos, sin = np.cos(angles)[:, None, :], np.sin(angles)[:, None, :]
    if neox:
        a, b = x[..., :half], x[..., half:n_rot]
        out[..., :half] = a * cos - b * sin
        out[..., half:n_rot] = a * sin + b * cos
    else:
        a, b = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
        out[..., 0:n_rot:2] = a * cos - b * sin
        out[..., 1:n_rot:2] = a * sin + b * cos
    return out


def attention(q, k, v, scale, window):
    """q [T, H, d], k and v [T, H_kv, d]; query j sees keys 0..j (and, with a window, only the
    last `window` of them). Query head h reads KV head h // (H / H_kv)."""
    T, H, _ = q.shape
    group = H // k.shape[1]
    out = np.zeros_like(q)
    for h in range(H):
        kh, vh = k[:, h // group], v[:, h // group]
        scores = q[:, h] @ kh.T * scale  # [T, T]
        for j in range(T):
            visible = np.arange(T) <= j
            if window > 0:
                visible &= np.arange(T) > j - window
            s = np.where(visible, scores[j], -np.inf)
            p = np.exp(s - s.max())
            out[j, h] = (p / p.sum()) @ vh
    return out


def block(m, layer, x, positions):
    """One decoder block of m's architecture over x [T, n_embd], as the architecture defines it
    (llama: SwiGLU, normal RoPE on GGUF's permuted q/k; qwen2: with q/k/v biases, NeoX RoPE;
    qwen3: per-head q/k RMS norms; gemma3: q/k norms, norms after both branches, GeGLU)."""
    w = m.w
    p = f"blk.{layer}."

    def linear(name, y):
        out = y @ w[p + name + ".weight"].T
        if m.has(p + name + ".bias"):
            out = out + w[p + name + ".bias"]
        return out

    T = x.shape[0]
    neox = m.arch != "llama"
    cur = rms_norm(x, w[p + "attn_norm.weight"], m.eps)
    q = linear("attn_q", cur).reshape(T, m.n_head, m.head_dim)
    k = linear("attn_k", cur).reshape(T, m.n_head_kv, m.head_dim)
    v = linear("attn_v", cur).reshape(T, m.n_head_kv, m.head_dim)
    if m.has(p + "attn_q_norm.weight"):
        q = rms_norm(q, w[p + "attn_q_norm.weight"], m.eps)
        k = rms_norm(k, w[p + "attn_k_norm.weight"], m.eps)
    base = m.freq_base_swa if m.is_swa(layer) else m.freq_base
    q = rope(q, positions, m.n_rot, base, neox)
    k = rope(k, positions, m.n_rot, base, neox)
    window = m.window if m.is_swa(layer) else 0
    att = attention(q, k, v, 1.0 / math.sqrt(m.head_dim), window).reshape(T, -1)
    att = linear("attn_output", att)
    if m.arch == "gemma3":
        att = rms_norm(att, w[p + "post_attention_norm.weight"], m.eps)
    x = x + att
    cur = rms_norm(x, w[p + "ffn_norm.weight"], m.eps)
    act = gelu_tanh if m.arch == "gemma3" else silu
    ff = linear("ffn_down", act(linear("ffn_gate", cur)) * linear("ffn_up", cur))
    if m.arch == "gemma3":
        ff = rms_norm(ff, w[p + "post_ffw_norm.weight"], m.eps)
    return x + ff


def lm_head(m, normed, own=None):
    if own is not None and m.has(own):
        logits = normed @ m.w[own].T
    else:
        logits = normed @ m.output().T
        if m.has("output.bias"):
            logits = logits + m.w["output.bias"]
    if m.softcap > 0:
        logits = m.softcap * np.tanh(logits / m.softcap)
    return logits


def forward(m, tokens):
    """The main model: final hidden states [T, n_embd] (after the final norm) and logits."""
    x = m.w["token_embd.weight"][tokens]
    if m.arch == "gemma3":
        x = x * math.sqrt(m.n_embd)
    positions = np.arange(len(tokens))
    for layer in range(m.n_layer):
        x = block(m, layer, x, positions)
    hidden = rms_norm(x, m.w["output_norm.weight"], m.eps)
    return hidden, lm_head(m, hidden)


def next_n_logits(m, tokens, states, depth):
    """Next-n depth d over indices i = 0 .. T-2-d: (x_i, t_{i+1+d}) -> logits for t_{i+2+d},
    with x_i = h_i for d = 0 and depth d-1's block output o_i after (the report's sequential
    modules). Returns the logits and this depth's block outputs."""
    b = m.n_layer + depth
    p = f"blk.{b}.nextn."
    n = len(tokens) - 1 - depth
    table = m.w[p + "embed_tokens.weight"] if m.has(p + "embed_tokens.weight") \
        else m.w["token_embd.weight"]
    e = table[tokens[1 + depth:]]
    h = states[:n]
    joined = np.concatenate([rms_norm(e, m.w[p + "enorm.weight"], m.eps),
                             rms_norm(h, m.w[p + "hnorm.weight"], m.eps)], axis=-1)
    x = joined @ m.w[p + "eh_proj.weight"].T
    x = block(m, b, x, np.arange(n) + 1 + depth)
    norm = m.w[p + "shared_head_norm.weight"] if m.has(p + "shared_head_norm.weight") \
        else m.w["output_norm.weight"]
    return lm_head(m, rms_norm(x, norm, m.eps), p + "shared_head_head.weight"), x


def medusa_logits(m, hidden):
    """[K, T, n_vocab]: head k at index i predicts t_{i+2+k}."""
    heads = []
    for k in range(m.n_medusa):
        x = hidden
        for layer in range(m.n_medusa_layer):
            z = x @ m.w[f"medusa.{k}.{layer}.weight"].T
            if m.has(f"medusa.{k}.{layer}.bias"):
                z = z + m.w[f"medusa.{k}.{layer}.bias"]
            x = x + silu(z)
        heads.append(lm_head(m, x, f"medusa.{k}.output.weight"))
    return np.stack(heads)


def check_forward_against_transformers(arch, tiny_dir):
    m = Model(Path(tiny_dir) / f"{arch}.gguf")
    meta = json.loads((Path(tiny_dir) / f"{arch}.logits.json").read_text())
    raw = np.fromfile(Path(tiny_dir) / meta["logits"], dtype="<f4")
    worst = 0.0
    for seq in meta["sequences"]:
        n = seq["shape"][0] * seq["shape"][1]
        want = raw[seq["offset"]:seq["offset"] + n].reshape(seq["shape"]).astype(np.float64)
        _, got = forward(m, seq["tokens"])
        err = (np.abs(got - want).max(axis=-1) / np.abs(want).max(axis=-1)).max()
        worst = max(worst, float(err))
    if worst > 1e-4:
        raise AssertionError(f"{arch}: the numpy forward is {worst:.3g} from transformers")
    return worst


# --------------------------------------------------------------------------------------------
# The synthetic models.

CONFIGS = {
    # n_head_kv, head_dim, n_ff, rope base, eps, medusa heads, medusa layers, arch-specific
    "llama": dict(n_head_kv=2, head_dim=8, n_ff=64, base=50000.0, eps=1e-5, heads=3, layers=1),
    "qwen2": dict(n_head_kv=1, head_dim=8, n_ff=64, base=1000000.0, eps=2e-6, heads=2,
                  layers=2),
    "qwen3": dict(n_head_kv=2, head_dim=16, n_ff=64, base=20000.0, eps=3e-6, heads=3, layers=1,
                  nextn=2),
    "gemma3": dict(n_head_kv=1, head_dim=16, n_ff=64, base=100000.0, eps=1e-5, heads=2,
                   layers=1, base_swa=5000.0, window=4, softcap=12.0),
}
N_EMBD, N_HEAD, N_MAIN = 32, 4, 2
ARCH_SEED = {"llama": 1, "qwen2": 2, "qwen3": 3, "gemma3": 4}


def block_tensors(arch, cfg, rng, layer):
    """The ordinary tensors of block `layer`, numpy order [out, in]. Norm weights near 1 (near
    0.3 for Gemma's branch-output norms), q/k norms near 1.5, matrices N(0, 0.1), q/k N(0, 0.18)
    where queries and keys are not normed, so that attention is far from uniform."""
    n_q, n_kv = N_HEAD * cfg["head_dim"], cfg["n_head_kv"] * cfg["head_dim"]
    normed_qk = arch in ("qwen3", "gemma3")
    qk_scale = 0.1 if normed_qk else 0.18
    p = f"blk.{layer}."

    def norm(n, centre=1.0):
        return centre + 0.1 * rng.standard_normal(n)

    t = {
        p + "attn_norm.weight": norm(N_EMBD),
        p + "attn_q.weight": rng.normal(0, qk_scale, (n_q, N_EMBD)),
        p + "attn_k.weight": rng.normal(0, qk_scale, (n_kv, N_EMBD)),
        p + "attn_v.weight": rng.normal(0, 0.1, (n_kv, N_EMBD)),
        p + "attn_output.weight": rng.normal(0, 0.1, (N_EMBD, n_q)),
        p + "ffn_norm.weight": norm(N_EMBD),
        p + "ffn_gate.weight": rng.normal(0, 0.1, (cfg["n_ff"], N_EMBD)),
        p + "ffn_up.weight": rng.normal(0, 0.1, (cfg["n_ff"], N_EMBD)),
        p + "ffn_down.weight": rng.normal(0, 0.1, (N_EMBD, cfg["n_ff"])),
    }
    if arch == "qwen2":
        t[p + "attn_q.bias"] = rng.normal(0, 0.1, n_q)
        t[p + "attn_k.bias"] = rng.normal(0, 0.1, n_kv)
        t[p + "attn_v.bias"] = rng.normal(0, 0.1, n_kv)
    if normed_qk:
        t[p + "attn_q_norm.weight"] = norm(cfg["head_dim"], 1.5)
        t[p + "attn_k_norm.weight"] = norm(cfg["head_dim"], 1.5)
    if arch == "gemma3":
        t[p + "post_attention_norm.weight"] = 0.3 + 0.05 * rng.standard_normal(N_EMBD)
        t[p + "post_ffw_norm.weight"] = 0.3 + 0.05 * rng.standard_normal(N_EMBD)
    return t


def make_tensors(arch, cfg, rng):
    t = {"token_embd.weight": rng.normal(0, 0.15 if arch == "gemma3" else 1.0,
                                         (N_VOCAB, N_EMBD)),
         "output_norm.weight": 1.0 + 0.1 * rng.standard_normal(N_EMBD)}
    if arch == "llama":
        t["output.weight"] = rng.normal(0, 0.1, (N_VOCAB, N_EMBD))
    n_nextn = cfg.get("nextn", 1)
    for layer in range(N_MAIN + n_nextn):
        t.update(block_tensors(arch, cfg, rng, layer))
    for b in range(N_MAIN, N_MAIN + n_nextn):
        p = f"blk.{b}.nextn."
        t[p + "eh_proj.weight"] = rng.normal(0, 0.1, (N_EMBD, 2 * N_EMBD))
        t[p + "enorm.weight"] = 1.0 + 0.1 * rng.standard_normal(N_EMBD)
        t[p + "hnorm.weight"] = 1.0 + 0.1 * rng.standard_normal(N_EMBD)
        if arch != "qwen3":
            t[p + "shared_head_norm.weight"] = 1.0 + 0.1 * rng.standard_normal(N_EMBD)
        if arch == "llama":
            t[p + "shared_head_head.weight"] = rng.normal(0, 0.1, (N_VOCAB, N_EMBD))
            t[p + "embed_tokens.weight"] = rng.normal(0, 1.0, (N_VOCAB, N_EMBD))
    for k in range(cfg["heads"]):
        for layer in range(cfg["layers"]):
            t[f"medusa.{k}.{layer}.weight"] = rng.normal(0, 0.1, (N_EMBD, N_EMBD))
            if not (arch == "qwen2" and k == 1):
                t[f"medusa.{k}.{layer}.bias"] = rng.normal(0, 0.1, N_EMBD)
    t["medusa.1.output.weight"] = rng.normal(0, 0.1, (N_VOCAB, N_EMBD))
    return t


def write_model(arch, cfg, tensors, path):
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(f"tessera speculative {arch}")
    n_nextn = cfg.get("nextn", 1)
    writer.add_block_count(N_MAIN + n_nextn)
    writer.add_uint32(f"{arch}.nextn_predict_layers", n_nextn)
    writer.add_context_length(512)
    writer.add_embedding_length(N_EMBD)
    writer.add_feed_forward_length(cfg["n_ff"])
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(cfg["n_head_kv"])
    writer.add_key_length(cfg["head_dim"])
    writer.add_value_length(cfg["head_dim"])
    writer.add_rope_freq_base(cfg["base"])
    writer.add_layer_norm_rms_eps(cfg["eps"])
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    if arch == "llama":
        writer.add_rope_dimension_count(cfg["head_dim"])
    if arch == "gemma3":
        writer.add_sliding_window(cfg["window"])
        writer.add_rope_freq_base_swa(cfg["base_swa"])
        writer.add_final_logit_softcapping(cfg["softcap"])
    writer.add_uint32("medusa.head_count", cfg["heads"])
    writer.add_uint32("medusa.layer_count", cfg["layers"])
    for name in sorted(tensors):
        writer.add_tensor(name, np.ascontiguousarray(tensors[name], dtype=np.float32),
                          raw_dtype=gguf.GGMLQuantizationType.F32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def make_arch(arch, out_dir, tiny_dir):
    check = check_forward_against_transformers(arch, tiny_dir)
    cfg = CONFIGS[arch]
    rng = np.random.default_rng(SEED + ARCH_SEED[arch])
    path = Path(out_dir) / f"{arch}.gguf"
    write_model(arch, cfg, make_tensors(arch, cfg, rng), path)

    m = Model(path)  # the weights as stored (float32), read back
    hidden, logits = forward(m, SEQUENCE)
    sections = {"logits": logits, "hidden": hidden}
    states = hidden
    for depth in range(m.n_nextn):
        sections[f"next_n_logits_{depth}"], states = next_n_logits(m, SEQUENCE, states, depth)
    sections["medusa_logits"] = medusa_logits(m, hidden)
    described, chunks, offset = {}, [], 0
    for name, array in sections.items():
        flat = np.ascontiguousarray(array, dtype="<f4").ravel()
        described[name] = {"offset": offset, "shape": list(array.shape)}
        chunks.append(flat)
        offset += flat.size
    bin_name = f"{arch}.draft.bin"
    np.concatenate(chunks).tofile(Path(out_dir) / bin_name)
    meta = {
        "arch": arch, "gguf": path.name, "data": bin_name, "dtype": "float32",
        "reference": "float64", "tokens": SEQUENCE, "n_vocab": N_VOCAB, "n_embd": N_EMBD,
        "n_layer": N_MAIN, "nextn_predict_layers": m.n_nextn, "medusa_head_count": cfg["heads"],
        "medusa_layer_count": cfg["layers"],
        "numpy_forward_vs_transformers_rel_error": check,
        "sections": described,
    }
    (Path(out_dir) / f"{arch}.draft.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{arch}: {path.stat().st_size} bytes; numpy forward vs transformers {check:.2g}")


def main():
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(here.parent / "fixtures" / "speculative"))
    parser.add_argument("--tiny", default=str(here.parent / "fixtures" / "tiny"))
    parser.add_argument("--arch", nargs="*", default=list(CONFIGS))
    args = parser.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    for arch in args.arch:
        make_arch(arch, args.out, args.tiny)


if __name__ == "__main__":
    main()
