"""The middle step of pipeline.toml: fits a threshold on the data `prepare` wrote.

runyard gives a run that waits for others (`after`) their working folders in
$RUNYARD_AFTER_DIRS; the data is read from there. Prints `loss=..` lines (metrics) and
writes checkpoints/step-N.json.
"""

import argparse
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--steps", type=int, default=5)
args = parser.parse_args()
source = os.environ["RUNYARD_AFTER_DIRS"].split(os.pathsep)[0]
with open(os.path.join(source, "data", "split.json")) as handle:
    data = json.load(handle)
values = [row[0] for row in data["rows"][:data["train"]]]
threshold = 0.0
os.makedirs("checkpoints", exist_ok=True)
for step in range(1, args.steps + 1):
    loss = sum((v - threshold) ** 2 for v in values) / len(values)
    threshold += args.lr * sum(v - threshold for v in values) / len(values)
    print(f"step={step} loss={loss:.4f}", flush=True)
    with open(os.path.join("checkpoints", f"step-{step}.json"), "w") as handle:
        json.dump({"threshold": threshold, "step": step, "loss": loss}, handle)
