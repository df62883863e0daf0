"""A synthetic training run with a known optimum: runyard's search example, test and benchmark.

    python3 objective.py --lr 0.003 --layers 5 --opt adam [--steps 60] [--delay 0.02]

It prints `step=N val_loss=X train_loss=Y` once a step, like a training loop would. Its
validation loss converges over the steps to a floor set by the params:

    floor = 0.5 * (log10(lr) - log10(3e-3))**2 + 0.02 * (layers - 5)**2
            + (0 for adam, 0.15 for sgd) + 0.05

so the best possible value is 0.05, at lr=3e-3, layers=5, opt=adam. The loss falls from
about 1 above that floor at a speed that grows with the learning rate (adam faster than
sgd): a higher rate converges faster, to a worse floor when it is too high, as real runs
do, so early steps rank runs mostly, not exactly, as their ends do. The noise (sd 0.01)
is seeded by the params and --seed: the same params print the same curve.
"""

import argparse
import math
import random
import sys
import time

OPTIMUM = 0.05


def floor(lr: float, layers: int, opt: str) -> float:
    return (0.5 * (math.log10(lr) - math.log10(3e-3)) ** 2 + 0.02 * (layers - 5) ** 2
            + (0.0 if opt == "adam" else 0.15) + OPTIMUM)


def curve(lr: float, layers: int, opt: str, steps: int, seed: int = 0, noise: float = 0.01):
    """The validation loss after each step, 1 to `steps`."""
    rng = random.Random(f"{lr!r}/{layers}/{opt}/{seed}")
    speed = (0.08 + 0.5 * math.sqrt(lr)) * (1.0 if opt == "adam" else 0.7)
    base = floor(lr, layers, opt)
    for step in range(1, steps + 1):
        yield step, base + math.exp(-speed * step) + rng.gauss(0, noise)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--opt", default="adam", choices=["adam", "sgd"])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--delay", type=float, default=0.02, help="seconds per step")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for step, val_loss in curve(args.lr, args.layers, args.opt, args.steps, args.seed):
        print(f"step={step} val_loss={val_loss:.5f} train_loss={val_loss * 0.9:.5f}",
              flush=True)
        time.sleep(args.delay)
    return 0


if __name__ == "__main__":
    sys.exit(main())
