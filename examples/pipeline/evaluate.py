"""The last step of pipeline.toml: compares the training runs it waited for.

Each training run left checkpoints in its working folder; $RUNYARD_AFTER_DIRS lists them.
"""

import json
import os

results = []
for folder in filter(None, os.environ.get("RUNYARD_AFTER_DIRS", "").split(os.pathsep)):
    checkpoints = os.path.join(folder, "checkpoints")
    last = max(os.listdir(checkpoints), key=lambda name: int("".join(filter(str.isdigit, name))))
    with open(os.path.join(checkpoints, last)) as handle:
        state = json.load(handle)
    results.append((state["loss"], folder))
    print(f"evaluated {folder}: step={state['step']} loss={state['loss']:.4f}")
best = min(results)
print(f"evaluated_runs={len(results)} best_loss={best[0]:.4f}")
