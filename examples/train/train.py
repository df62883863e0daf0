"""A small training script for runyard's examples and tests: logistic regression, pure Python.

It prints `epoch=.. step=.. loss=.. acc=..` lines (runyard reads them as metrics), appends
JSON lines to $RUNYARD_METRICS when set, and saves a checkpoint file per epoch. Started
with $RUNYARD_RESUME_FROM (`tui clone ID --resume`), it goes on from that checkpoint.

    python3 train.py --lr 0.1 --epochs 5 --batch-size 32
"""

import argparse
import json
import math
import os
import random
import sys
import time


def make_data(n, seed):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        x = [rng.gauss(0, 1) for _ in range(4)]
        label = 1 if 1.5 * x[0] - 2.0 * x[1] + 0.5 * x[2] + rng.gauss(0, 0.5) > 0 else 0
        rows.append((x, label))
    return rows


def predict(w, b, x):
    z = sum(wi * xi for wi, xi in zip(w, x)) + b
    return 1 / (1 + math.exp(-max(-30, min(30, z))))


def evaluate(w, b, rows):
    loss = acc = 0.0
    for x, y in rows:
        p = min(max(predict(w, b, x), 1e-9), 1 - 1e-9)
        loss -= y * math.log(p) + (1 - y) * math.log(1 - p)
        acc += (p > 0.5) == bool(y)
    return loss / len(rows), acc / len(rows)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds to sleep per step")
    parser.add_argument("--fail-at-epoch", type=int, default=-1)
    args = parser.parse_args()

    train, val = make_data(512, args.seed), make_data(256, args.seed + 1)
    w, b, step, first_epoch = [0.0] * 4, 0.0, 0, 1
    resume = os.environ.get("RUNYARD_RESUME_FROM")
    if resume:
        with open(resume) as handle:
            state = json.load(handle)
        w, b, first_epoch = state["w"], state["b"], state["epoch"] + 1
        step = state.get("step", 0)
        print(f"resumed from {resume} at epoch {state['epoch']}", flush=True)
    metrics_file = os.environ.get("RUNYARD_METRICS")
    print(f"training on {len(train)} rows (learning rate {args.lr}, batch size {args.batch_size})",
          flush=True)
    for epoch in range(first_epoch, args.epochs + 1):
        if epoch == args.fail_at_epoch:
            print(f"error: diverged at epoch {epoch}", file=sys.stderr)
            sys.exit(3)
        random.Random(args.seed + epoch).shuffle(train)
        for start in range(0, len(train), args.batch_size):
            batch = train[start:start + args.batch_size]
            grad_w, grad_b = [0.0] * 4, 0.0
            for x, y in batch:
                err = predict(w, b, x) - y
                grad_w = [g + err * xi for g, xi in zip(grad_w, x)]
                grad_b += err
            w = [wi - args.lr * g / len(batch) for wi, g in zip(w, grad_w)]
            b -= args.lr * grad_b / len(batch)
            step += 1
            if step % 4 == 0:
                loss, acc = evaluate(w, b, batch)
                print(f"epoch={epoch} step={step} loss={loss:.4f} acc={acc:.3f}", flush=True)
            time.sleep(args.delay)
        val_loss, val_acc = evaluate(w, b, val)
        print(f"epoch {epoch} done: val_loss={val_loss:.4f} val_acc={val_acc:.3f}", flush=True)
        if metrics_file:
            with open(metrics_file, "a") as handle:
                handle.write(json.dumps({"step": step, "epoch": epoch, "val_loss": val_loss}) + "\n")
        os.makedirs("checkpoints", exist_ok=True)
        with open(os.path.join("checkpoints", f"epoch{epoch}.json"), "w") as handle:
            json.dump({"w": w, "b": b, "epoch": epoch, "step": step}, handle)


if __name__ == "__main__":
    main()
