#!/usr/bin/env python3
"""Single-thread Pillow+NumPy throughput of the per-image ImageNet training input path: the
side-by-side reference for the Rust data pipeline on photos.

Per image, as a torchvision/AugMix ImageNet loader does it in one worker:
open and decode (`Image.open(p).convert("RGB")`); torchvision's RandomResizedCrop
(`get_params` written out with Python's `random`: scale [0.08, 1], ratio [3/4, 4/3], ten
tries then the centred fallback; `resize((224, 224), BILINEAR, box=...)`); a horizontal flip
with p = 0.5; one AugMix view at severity 3 (width 3, depth 1..=3, alpha 1; the
implementation of scripts/bench/pillow_augmix.py, imported from there); normalisation to
float32 CHW with the ImageNet mean and std. One process, one core.

Images: every jpg/JPEG/png under `--data`, recursively (sorted; the first `--limit`), read
from disk for every image processed (the page cache keeps them after the first pass, as in
a training epoch over a warm dataset). Prints one JSON line with the rate per wall-clock
second and per CPU second of this thread (the figure to compare on a shared machine):
`{"name": "pipeline-pillow", "size": 224, "threads": 1, "images_per_s": X, ...}`.

    pip install Pillow numpy
    python3 scripts/bench/pillow_pipeline.py --data DIR [--limit 256] [--seconds 10]
"""

import argparse
import glob
import json
import math
import os
import random
import sys
import time

# One thread for NumPy's BLAS, should any call use it.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pillow_augmix import augmix, make_ops  # noqa: E402

SIZE = 224
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def rrc_params(width, height, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0)):
    """torchvision's RandomResizedCrop.get_params: (top, left, h, w)."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * random.uniform(scale[0], scale[1])
        aspect = math.exp(random.uniform(log_ratio[0], log_ratio[1]))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            i = random.randint(0, height - h)
            j = random.randint(0, width - w)
            return i, j, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w = width
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        h = height
        w = int(round(h * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def process(path, ops, np_rng):
    img = Image.open(path).convert("RGB")
    top, left, h, w = rrc_params(img.width, img.height)
    img = img.resize((SIZE, SIZE), Image.BILINEAR, box=(left, top, left + w, top + h))
    if random.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    mixed = augmix(img, ops, np_rng, severity=3)
    return np.ascontiguousarray(((mixed - MEAN) / STD).transpose(2, 0, 1), dtype=np.float32)


def find_images(root):
    paths = []
    for pattern in ("*.jpg", "*.JPEG", "*.jpeg", "*.png"):
        paths.extend(glob.glob(os.path.join(root, "**", pattern), recursive=True))
    return sorted(set(paths))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder of images (searched recursively)")
    parser.add_argument("--limit", type=int, default=256, help="use at most this many images")
    parser.add_argument("--seconds", type=float, default=10.0, help="measure for about this long")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    paths = find_images(args.data)[: args.limit]
    if not paths:
        raise SystemExit("no jpg/JPEG/png under %s" % args.data)
    random.seed(args.seed)
    np_rng = np.random.default_rng(args.seed)
    ops = make_ops(SIZE)

    out = process(paths[0], ops, np_rng)  # warm-up, and a shape check
    assert out.shape == (3, SIZE, SIZE) and out.dtype == np.float32, (out.shape, out.dtype)

    done = 0
    start, cpu_start = time.perf_counter(), time.thread_time()
    while True:
        for path in paths:
            process(path, ops, np_rng)
            done += 1
        elapsed = time.perf_counter() - start
        if elapsed >= args.seconds:
            break
    cpu = time.thread_time() - cpu_start
    print(
        json.dumps(
            {
                "name": "pipeline-pillow",
                "size": SIZE,
                "threads": 1,
                "images_per_s": round(done / elapsed, 1),
                "images_per_cpu_s": round(done / cpu, 1),
                "images": len(paths),
                "processed": done,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
