"""The last step of examples/train/pipeline.toml: compares the training runs it waited for.

runyard gives a run that waits for others (`after`) their working folders in
$RUNYARD_AFTER_DIRS; each training run left its checkpoints there.
"""

import json
import os

results = []
for folder in filter(None, os.environ.get("RUNYARD_AFTER_DIRS", "").split(os.pathsep)):
    checkpoints = os.path.join(folder, "checkpoints")
    if not os.path.isdir(checkpoints):
        continue
    last = max(os.listdir(checkpoints), key=lambda name: int("".join(filter(str.isdigit, name))))
    with open(os.path.join(checkpoints, last)) as handle:
        state = json.load(handle)
    results.append((abs(state["b"]), folder))
    print(f"evaluated {folder}: epoch={state['epoch']} bias={state['b']:.4f}")
print(f"evaluated_runs={len(results)}")
