#!/usr/bin/env bash
# device-gpu-check.sh: one prepared check of qwenlab's GPU parts on a real NVIDIA host.
#
# It reports the host (nvidia-smi), runs `qwenlab gpu` idle and while a PyTorch load
# keeps the GPU busy (text and --json), runs the gpu package's real-NVML test and
# benchmarks, and, where Docker with the NVIDIA runtime is there, runs
# `qwenlab up-and-bench --gpus all --runs 3` against the built-in simulator image.
# It changes no GPU setting (accounting mode is read, never set).
#
# Binaries: built here when Go is on the PATH, else taken from $BIN (default .devbin:
# `CGO_ENABLED=1 go build -o .devbin/qwenlab . && CGO_ENABLED=1 go test -c -o .devbin/gpu.test ./gpu`
# on an x86-64 machine, then carried). Everything printed also goes to $OUT/ (default
# ./out-device).
set -u
OUT=${OUT:-./out-device}
BIN=${BIN:-.devbin}
mkdir -p "$OUT"
exec > >(tee "$OUT/device-gpu-check.log") 2>&1
section() { echo; echo "=== $* [$(date -u +%H:%M:%S)]"; }
loadpid=""
trap '[ -n "$loadpid" ] && kill "$loadpid" 2>/dev/null' EXIT

section host
date -u +%FT%TZ; uname -srm
nvidia-smi || echo "nvidia-smi failed"
nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit,accounting.mode,pcie.link.gen.current,pcie.link.width.current --format=csv 2>&1
for t in go docker python3 nvcc; do printf '%-8s %s\n' "$t" "$(command -v $t || echo absent)"; done

section build
if [ -x "$BIN/qwenlab" ] && [ -x "$BIN/gpu.test" ]; then
  echo "using the carried $BIN/"
elif command -v go >/dev/null; then
  mkdir -p "$BIN"
  CGO_ENABLED=1 go build -o "$BIN/qwenlab" . && CGO_ENABLED=1 go test -c -o "$BIN/gpu.test" ./gpu || echo "go build failed"
else
  echo "no Go here and nothing carried in $BIN/"
fi
ls -la "$BIN" || { echo "no binaries: stop"; exit 1; }
Q="$BIN/qwenlab"
"$Q" version

section "qwenlab gpu idle (2s at 250ms)"
"$Q" gpu --duration 2s --interval 250ms; echo "rc=$?"

section "GPU load (python3 + torch: 20 GiB held, bf16 8192^3 matmuls for 40 s)"
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  PYTHONUNBUFFERED=1 python3 - <<'PY' &
import time, torch, os
hold = torch.empty(20 << 30, dtype=torch.uint8, device="cuda")
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
print(f"load: pid {os.getpid()} torch {torch.__version__} on {torch.cuda.get_device_name(0)}", flush=True)
end, n = time.time() + 40, 0
while time.time() < end:
    for _ in range(20):
        c = a @ b
    torch.cuda.synchronize(); n += 20
print(f"load: done, {n} matmuls", flush=True)
PY
  loadpid=$!
  for _ in $(seq 60); do nvidia-smi --query-compute-apps=pid --format=csv,noheader | grep -q . && break; sleep 0.5; done
  sleep 3
else
  echo "no python3 with CUDA torch: sampling an idle GPU"
fi

section "qwenlab gpu under load (5s at 250ms)"
"$Q" gpu --duration 5s --interval 250ms; echo "rc=$?"

section "qwenlab gpu --json under load (2s at 500ms)"
"$Q" gpu --json --duration 2s --interval 500ms > "$OUT/gpu-load.json"; echo "rc=$?"
head -c 3000 "$OUT/gpu-load.json"; echo

section "gpu package: real-NVML test under load, then all tests"
"$BIN/gpu.test" -test.run 'TestRealSampler' -test.v -test.count=1 2>&1 | tail -25
"$BIN/gpu.test" -test.count=1 2>&1 | tail -5
[ -n "$loadpid" ] && wait "$loadpid"; loadpid=""

section "gpu package: real-NVML benchmarks (idle)"
"$BIN/gpu.test" -test.run '^$' -test.bench 'Real' -test.benchtime 300ms -test.benchmem 2>&1 | tail -20

section "docker up-and-bench"
if command -v docker >/dev/null && timeout 10 docker info >/dev/null 2>&1; then
  docker info --format '{{.ServerVersion}} runtimes={{json .Runtimes}}' 2>&1
  timeout 150 "$Q" up-and-bench --gpus all --runs 3 --warmup 1 --out "$OUT/report.json" 2>&1 | tail -40
  echo "rc=${PIPESTATUS[0]}"
  [ -f "$OUT/report.json" ] && python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(json.dumps({"gpu": {k: v for k, v in r.get("gpu", {}).items() if k != "series"}, "warnings": r.get("warnings")}, indent=1))' "$OUT/report.json"
  "$Q" cleanup 2>&1 | tail -3
else
  echo "no usable Docker here: passthrough not checked"
fi
section done
