#!/usr/bin/env bash
# Issue 19: a run killed after stage 1's second epoch, that epoch's checkpoint truncated, the same
# command run again: it resumes from the epoch before and ends bit-identical to an uninterrupted run.
# Run from the repository root with the package installed: bash bench/resume_after_damage.sh
set -u
mkdir -p runs/resume_after_damage && cd runs/resume_after_damage && rm -rf A B

ARGS="--epochs 4 1 --batch-size 32 --train-examples 512 --test-examples 64 --width-multiplier 0.125 --quiet --no-export --no-report"
adambnn train --output-dir A $ARGS > A.log 2>&1
adambnn train --output-dir B $ARGS > B1.log 2>&1 &
pid=$!
while ! python3 -c "import json,sys; sys.exit(0 if json.load(open('B/stage1/state.json'))['completed_epochs']>=2 else 1)" 2>/dev/null; do sleep 0.2; done
kill -9 $pid; wait $pid 2>/dev/null
echo "killed after stage 1 epoch $(python3 -c "import json;print(json.load(open('B/stage1/state.json'))['completed_epochs'])")"
data=$(ls B/stage1/epoch_0001/ckpt.data-*); size=$(stat -c %s "$data"); truncate -s $((size / 2)) "$data"
echo "truncated $data from $size to $((size / 2)) bytes"
adambnn train --output-dir B $ARGS > B2.log 2>&1; echo "rerun exit $?"
grep -i "damaged\|corrupt" B2.log | head -3
ls B/stage1
python3 - <<'PY'
import json, h5py, numpy as np
a, b = (json.load(open(f"{r}/results.json")) for r in "AB")
print("test accuracy", a["test_accuracy"], b["test_accuracy"])
for stage in ("stage1", "stage2"):
    ha, hb = (json.load(open(f"{r}/{stage}/history.json")) for r in "AB")
    same = all(np.array_equal(np.array(ha[k], float), np.array(hb[k], float), equal_nan=True) for k in ha if k != "epoch_seconds")
    print(stage, "histories identical (all keys but epoch_seconds):", same)
def weights(path):
    out = []
    with h5py.File(path) as f:
        f["model_weights"].visititems(lambda n, d: out.append((n, d[()])) if isinstance(d, h5py.Dataset) else None)
    return out
wa, wb = weights("A/final_model.h5"), weights("B/final_model.h5")
print("final weights bit-identical:", len(wa) == len(wb) and all(n1 == n2 and np.array_equal(x, y) for (n1, x), (n2, y) in zip(wa, wb)))
PY
