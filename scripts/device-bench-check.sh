#!/usr/bin/env bash
# device-bench-check.sh: the whole benchmark path with real NVML on a GPU host without
# Docker: `qwenlab sim` on loopback, `qwenlab bench --url` against it while a PyTorch load keeps
# the GPU busy, and the report's gpu section (inventory, phases, series, processes).
# Binaries: $BIN/qwenlab (default .devbin, carried: `CGO_ENABLED=1 go build -o .devbin/qwenlab .`).
set -u
OUT=${OUT:-./out-device}
BIN=${BIN:-.devbin}
mkdir -p "$OUT"
exec > >(tee "$OUT/device-bench-check.log") 2>&1
Q="$BIN/qwenlab"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
"$Q" version
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  PYTHONUNBUFFERED=1 python3 - <<'PY' &
import time, torch, os
hold = torch.empty(12 << 30, dtype=torch.uint8, device="cuda")
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
print(f"load: pid {os.getpid()} on {torch.cuda.get_device_name(0)}", flush=True)
end = time.time() + 45
while time.time() < end:
    for _ in range(10):
        c = a @ b
    torch.cuda.synchronize()
PY
  pids+=($!)
  for _ in $(seq 60); do nvidia-smi --query-compute-apps=pid --format=csv,noheader | grep -q . && break; sleep 0.5; done
fi
"$Q" sim --port 18188 --profile default 2>"$OUT/sim.log" &
pids+=($!)
sleep 2
"$Q" bench --url http://127.0.0.1:18188 --runs 8 --warmup 1 --gpu-interval 100ms -o "$OUT/bench.json"
echo "rc=$?"
python3 - "$OUT/bench.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
g = r["gpu"]
print(json.dumps({"host.gpus": r["host"]["gpus"], "gpu": {k: v for k, v in g.items() if k != "samples"},
                  "series_points": [len(s["t_s"]) for s in g.get("samples") or []], "warnings": r["warnings"]}, indent=1))
PY
