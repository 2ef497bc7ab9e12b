#!/usr/bin/env bash
# The prepared GPU run: training throughput on wgpu, the photo input pipeline on all cores,
# and a real CIFAR-10 study of the four main recipes sized to the time left, all written as
# figures to $OUT. Made for one NVIDIA H200 (or H100) reached through Vulkan, in under
# 8 minutes; `--tiny` runs the same steps at toy sizes on any Vulkan device (the tests run
# it on Mesa's lavapipe).
#
# Usage: OUT=DIR [ADVBN_BIN=PATH] [ADVBN_CIFAR_TAR=PATH] [BUDGET_S=480] scripts/gpu/run.sh [--tiny]
#
#   ADVBN_BIN        an advbn built with `cargo build --release --features wgpu`
#                    (default: target/release/advbn beside this script's repository)
#   ADVBN_CIFAR_TAR  the CIFAR-10 JPEG archive (default: ../shared/data/cifar10-jpg.tar.gz)
#   BUDGET_S         seconds for the whole script (default 480; the study gets what the
#                    benchmarks leave, less a margin)
#   GL_DEBS          a folder of Debian packages holding the Vulkan loader (libvulkan1), unpacked
#                    into / when the machine has no libvulkan.so.1 (default: .gl in the repo)
#
# Writes to $OUT (flat, at most 8 files): summary.json (everything below, one object),
# train_bench.json, pipeline_bench.json, study_results.csv, study_report.md, device.txt, log.txt.
#
# Sizing rule of the study (full setting): after the benchmarks, the time left less a
# 60-second margin is split 65% training, 35% evaluation. One epoch of the four recipes on
# N images costs N * (1/P + 3/P + 1/A + 3/A) seconds, where P and A are ResNet-20's plain and
# AdvBN images/s from the training benchmark (AugMix+JSD trains three views per image). The
# study trains on all 50,000 images for as many whole epochs as fit (at most 200); if not
# even one fits, one epoch on as many images as fit (at least 1,000). The corruption
# evaluation uses 2,000 test images.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
setting=full
case "${1:-}" in
  --tiny) setting=tiny ;;
  "") ;;
  *) echo "error: unknown argument \`$1\` (valid: --tiny)" >&2; exit 2 ;;
esac
: "${OUT:?error: set OUT to the folder the figures go to}"
bin="${ADVBN_BIN:-$repo/target/release/advbn}"
tar_gz="${ADVBN_CIFAR_TAR:-$repo/../shared/data/cifar10-jpg.tar.gz}"
budget="${BUDGET_S:-480}"
[ -x "$bin" ] || { echo "error: no advbn binary at $bin (build with --features wgpu, or set ADVBN_BIN)" >&2; exit 1; }
[ -f "$tar_gz" ] || { echo "error: no CIFAR-10 archive at $tar_gz (set ADVBN_CIFAR_TAR)" >&2; exit 1; }
mkdir -p "$OUT"
started=$(date +%s)
log="$OUT/log.txt"
: >"$log"
say() { echo "[$(( $(date +%s) - started ))s] $*" | tee -a "$log" >&2; }

# --- Vulkan: the loader, and the NVIDIA driver's ICD where the container keeps it apart.
# (grep reads all of ldconfig's output: `grep -q` would exit at the first match, and under
# pipefail ldconfig's SIGPIPE would then read as "no loader".)
if ! ldconfig -p 2>/dev/null | grep 'libvulkan.so.1' >/dev/null; then
  debs="${GL_DEBS:-$repo/.gl}"
  if compgen -G "$debs/*.deb" >/dev/null; then
    say "no Vulkan loader installed: unpacking $debs/*.deb"
    for f in "$debs"/*.deb; do dpkg -x "$f" /; done
    ldconfig
  else
    echo "error: no Vulkan loader (libvulkan.so.1) and no .deb files in $debs: see the README, section 'The prepared GPU run'" >&2
    exit 1
  fi
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$nvidia_icd" ] && [ -z "${VK_DRIVER_FILES:-}" ] && ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
  export VK_DRIVER_FILES="$nvidia_icd"
fi
{
  echo "setting: $setting"; date -u; uname -a
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "nvidia-smi: not available"
  command -v vulkaninfo >/dev/null && vulkaninfo --summary 2>/dev/null | grep -E 'deviceName|driverInfo' || true
  echo "cores: $(nproc)"
} >"$OUT/device.txt"

# --- Data: the CIFAR-10 JPEG tree (train/<class>, test/<class>).
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
say "unpacking $(basename "$tar_gz")"
tar -xzf "$tar_gz" -C "$work"
data="$work"
[ -d "$data/train" ] || data="$(dirname "$(find "$work" -maxdepth 3 -type d -name train -print -quit)")"

# --- Settings.
if [ "$setting" = tiny ]; then
  cifar_models=tiny; cifar_batch=16; steps=1
  photo_model=resnet18; photo_size=64; photo_batch=4
  pipeline=(--count 64 --seconds 0.3)
else
  cifar_models=resnet20,preact_resnet18; cifar_batch=128; steps=5
  photo_model=resnet50; photo_size=224; photo_batch=256
  pipeline=(--count 5000 --seconds 5)
fi

# Joins pretty-printed JSON arrays (one per file) into one array.
join_arrays() {
  local first=1
  echo "["
  for f in "$@"; do
    [ "$first" = 1 ] || echo ","
    first=0
    sed '1d;$d' "$f"
  done
  echo "]"
}

# --- 1. Training throughput on wgpu.
say "training benchmark: $cifar_models at 32px, batch $cifar_batch"
"$bin" bench --train --device wgpu --models "$cifar_models" --batch "$cifar_batch" --steps "$steps" \
  --json "$work/train_cifar.json" 2>&1 | tee -a "$log"
say "training benchmark: $photo_model at ${photo_size}px, batch $photo_batch"
"$bin" bench --train --device wgpu --models "$photo_model" --size "$photo_size" --batch "$photo_batch" \
  --steps "$steps" --json "$work/train_photo.json" 2>&1 | tee -a "$log"
join_arrays "$work/train_cifar.json" "$work/train_photo.json" >"$OUT/train_bench.json"

# --- 2. The photo input pipeline (decode, random_resized_crop to 224, flip, AugMix, normalise)
# on one core and all cores.
say "input pipeline benchmark"
"$bin" bench --pipeline --data "folder:$data" --size 224 "${pipeline[@]}" \
  --json "$OUT/pipeline_bench.json" 2>&1 | tee -a "$log"

# --- 3. A real CIFAR-10 study of the four main recipes, sized to the time left.
recipes=(baseline augmix advbn augmix+advbn)
if [ "$setting" = tiny ]; then
  study=(--set model.arch=tiny --epochs 1 --train-limit 256 --test-limit 64 --corruptions gaussian_noise,fog
         --set train.batch_size=32 --set eval.batch_size=64)
  epochs=1; train_images=256
else
  rate() { # images/s of resnet20's row named $1 in the training benchmark
    tr -d ' \n' <"$work/train_cifar.json" | grep -o "{[^}]*\"name\":\"$1\",\"model\":\"resnet20\"[^}]*}" |
      grep -o '"images_per_s":[0-9.e+-]*' | cut -d: -f2
  }
  plain=$(rate plain); adv=$(rate advbn)
  left=$(( budget - ($(date +%s) - started) - 60 ))
  read -r epochs train_images < <(awk -v left="$left" -v p="$plain" -v a="$adv" 'BEGIN {
    train = 0.65 * left; per_image = 1/p + 3/p + 1/a + 3/a; e = int(train / (50000 * per_image));
    if (e > 200) e = 200;
    if (e >= 1) { print e, 50000 } else { n = int(train / per_image); if (n < 1000) n = 1000; print 1, n } }')
  study=(--set model.arch=resnet20 --epochs "$epochs" --train-limit "$train_images" --test-limit 2000
         --set eval.batch_size=500)
  say "study sizing: ${left}s left, ResNet-20 at $plain (plain) / $adv (AdvBN) images/s"
fi
say "study: ${recipes[*]}, $epochs epoch(s) on $train_images images"
"$bin" study "${recipes[@]}" --data "folder:$data" --device wgpu --out "$work/study" "${study[@]}" \
  2>&1 | tee -a "$log"
cp "$work/study/results.csv" "$OUT/study_results.csv"
cp "$work/study/report.md" "$OUT/study_report.md"

# --- Summary.
elapsed=$(( $(date +%s) - started ))
{
  echo "{"
  echo "  \"setting\": \"$setting\","
  echo "  \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
  echo "  \"elapsed_s\": $elapsed,"
  echo "  \"train_bench\": $(cat "$OUT/train_bench.json"),"
  echo "  \"pipeline_bench\": $(cat "$OUT/pipeline_bench.json"),"
  echo "  \"study\": {\"recipes\": [\"baseline\", \"augmix\", \"advbn\", \"augmix+advbn\"], \"epochs\": $epochs, \"train_images\": $train_images, \"results\": \"study_results.csv\", \"report\": \"study_report.md\"}"
  echo "}"
} >"$OUT/summary.json"
say "done in ${elapsed}s: $OUT/summary.json"
