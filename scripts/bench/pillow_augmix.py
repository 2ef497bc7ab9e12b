#!/usr/bin/env python3
"""Single-thread Pillow+NumPy AugMix throughput: the side-by-side reference for
`cargo bench -p advbn-augmenters --bench augmenters` (the `augmix` rows).

Our own implementation of the AugMix reference (google-research/augmix: `augmentations.py`
and the CIFAR `aug` function): severity 3, width 3, depth -1 (uniform 1..=3), alpha 1, the
nine paper ops on PIL images through each chain, then mixing in float32 after `/ 255`
(without the mean/std normalization, which commutes with the mix). One view per image.
`--style reference` runs the reference's `augment_and_mix` instead, which converts between
PIL and float arrays around every op (slower).

Images: the first N `test/` JPEGs of the CIFAR-10 tar (as the Rust bench reads them), at
32x32 and upsampled to 224x224 (bilinear). Prints one JSON object per size with the rate
per wall-clock second and per CPU second of this thread (the figure to compare on a shared
machine; `cargo run --release -p advbn-augmenters --example augmix_rate` prints the same):
`{"name": "augmix", "impl": "pillow", "size": 32, "threads": 1, "images_per_s": [...], "images_per_cpu_s": [...], ...}`.

    pip install Pillow numpy
    python3 scripts/bench/pillow_augmix.py [--data PATH] [--repeats 5] [--seconds 2]
"""

import argparse
import io
import json
import os
import statistics
import tarfile
import time

# One thread for NumPy's BLAS, should any call use it (none here does heavy linear algebra).
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402


def int_parameter(level, maxval):
    return int(level * maxval / 10)


def float_parameter(level, maxval):
    return float(level) * maxval / 10.0


def sample_level(rng, n):
    return rng.uniform(low=0.1, high=n)


def make_ops(size):
    def autocontrast(img, _severity, _rng):
        return ImageOps.autocontrast(img)

    def equalize(img, _severity, _rng):
        return ImageOps.equalize(img)

    def posterize(img, severity, rng):
        return ImageOps.posterize(img, 4 - int_parameter(sample_level(rng, severity), 4))

    def rotate(img, severity, rng):
        degrees = int_parameter(sample_level(rng, severity), 30)
        if rng.uniform() > 0.5:
            degrees = -degrees
        return img.rotate(degrees, resample=Image.BILINEAR)

    def solarize(img, severity, rng):
        return ImageOps.solarize(img, 256 - int_parameter(sample_level(rng, severity), 256))

    def affine(img, data):
        return img.transform((size, size), Image.AFFINE, data, resample=Image.BILINEAR)

    def shear_x(img, severity, rng):
        level = float_parameter(sample_level(rng, severity), 0.3)
        if rng.uniform() > 0.5:
            level = -level
        return affine(img, (1, level, 0, 0, 1, 0))

    def shear_y(img, severity, rng):
        level = float_parameter(sample_level(rng, severity), 0.3)
        if rng.uniform() > 0.5:
            level = -level
        return affine(img, (1, 0, 0, level, 1, 0))

    def translate_x(img, severity, rng):
        level = int_parameter(sample_level(rng, severity), size / 3)
        if rng.random() > 0.5:
            level = -level
        return affine(img, (1, 0, level, 0, 1, 0))

    def translate_y(img, severity, rng):
        level = int_parameter(sample_level(rng, severity), size / 3)
        if rng.random() > 0.5:
            level = -level
        return affine(img, (1, 0, 0, 0, 1, level))

    return [autocontrast, equalize, posterize, rotate, solarize, shear_x, shear_y, translate_x, translate_y]


def to_float(img):
    return np.asarray(img, dtype=np.float32) / 255.0


def augmix(img, ops, rng, severity=3, width=3, depth=-1, alpha=1.0):
    ws = np.float32(rng.dirichlet([alpha] * width))
    m = np.float32(rng.beta(alpha, alpha))
    mix = np.zeros((img.height, img.width, 3), dtype=np.float32)
    for i in range(width):
        image_aug = img.copy()
        d = depth if depth > 0 else rng.integers(1, 4)
        for _ in range(d):
            op = ops[rng.integers(len(ops))]
            image_aug = op(image_aug, severity, rng)
        mix += ws[i] * to_float(image_aug)
    return (1 - m) * to_float(img) + m * mix


def augment_and_mix(img, ops, rng, severity=3, width=3, depth=-1, alpha=1.0):
    """The reference's `augment_and_mix` (augmix.py): the image travels as a float array in
    [0, 1] and every op converts it to a PIL image and back (`apply_op`)."""
    image = to_float(img)
    ws = np.float32(rng.dirichlet([alpha] * width))
    m = np.float32(rng.beta(alpha, alpha))
    mix = np.zeros_like(image)
    for i in range(width):
        image_aug = image.copy()
        d = depth if depth > 0 else rng.integers(1, 4)
        for _ in range(d):
            op = ops[rng.integers(len(ops))]
            pil = Image.fromarray(np.clip(image_aug * 255.0, 0, 255).astype(np.uint8))
            image_aug = np.asarray(op(pil, severity, rng)) / 255.0
        mix += ws[i] * image_aug
    return (1 - m) * image + m * mix


def load_images(tar_path, n):
    out = []
    with tarfile.open(tar_path, "r:gz") as tar:
        for info in tar:
            if info.name.startswith("test/") and info.name.endswith(".jpg"):
                out.append(Image.open(io.BytesIO(tar.extractfile(info).read())).convert("RGB"))
                if len(out) == n:
                    break
    return out


def rate(images, ops, seconds, rng, style):
    """Images per wall-clock second and per CPU second of this thread."""
    fn = augmix if style == "cifar" else augment_and_mix
    done = 0
    start, cpu_start = time.perf_counter(), time.thread_time()
    while True:
        for img in images:
            fn(img, ops, rng)
        done += len(images)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed, done / (time.thread_time() - cpu_start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="CIFAR-10 JPEG tar")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--sizes", default="32,224")
    parser.add_argument(
        "--style",
        choices=("cifar", "reference"),
        default="cifar",
        help="cifar: PIL images through each chain (the CIFAR `aug`, the faster one); "
        "reference: `augment_and_mix` with a PIL <-> float conversion around every op",
    )
    args = parser.parse_args()
    data = args.data or next(
        (
            p
            for p in (
                os.environ.get("ADVBN_CIFAR_TAR", ""),
                os.path.join("..", "shared", "data", "cifar10-jpg.tar.gz"),
                os.path.join("..", "..", "shared", "data", "cifar10-jpg.tar.gz"),
            )
            if p and os.path.exists(p)
        ),
        None,
    )
    if data is None:
        raise SystemExit("CIFAR-10 tar not found; pass --data")
    small = load_images(data, args.images)
    rng = np.random.default_rng(0)
    for size in (int(s) for s in args.sizes.split(",")):
        images = small if size == 32 else [img.resize((size, size), Image.BILINEAR) for img in small]
        ops = make_ops(size)
        rate(images[:4], ops, 0.2, rng, args.style)  # warm-up
        rates = [rate(images, ops, args.seconds, rng, args.style) for _ in range(args.repeats)]
        wall = [r[0] for r in rates]
        cpu = [r[1] for r in rates]
        print(
            json.dumps(
                {
                    "name": "augmix",
                    "impl": "pillow-" + args.style,
                    "size": size,
                    "threads": 1,
                    "images_per_s": [round(r, 1) for r in wall],
                    "images_per_cpu_s": [round(r, 1) for r in cpu],
                    "median_per_cpu_s": round(statistics.median(cpu), 1),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
