"""Many clients at once: nothing lost, nothing locked."""

import subprocess
import sys

from tests.helpers import wait_for


def test_fifty_launches_at_once(cli, env, project):
    # All 50 share one stdout pipe, as with `xargs -P`; unbuffered Python is the hard case.
    shared = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    procs = [subprocess.Popen([sys.executable, "-m", "tui", "launch", "--", "sh", "-c", f"echo {i}"],
                              cwd=project, env={**env, "PYTHONUNBUFFERED": "1"},
                              stdout=shared.stdin, stderr=subprocess.PIPE, text=True)
             for i in range(50)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    shared.stdin.close()
    printed = shared.stdout.read()
    assert all(code == 0 for code, _ in results), [err for _, err in results if err]
    assert not any("locked" in err for _, err in results)
    ids = sorted(int(line) for line in printed.splitlines())
    assert ids == list(range(1, 51))
    wait_for(lambda: all(r["state"] == "succeeded" for r in cli.json("status", "--json", "--all")["runs"]),
             timeout=120, what="all 50 runs to succeed")
    outputs = {cli("logs", str(i)).stdout.strip() for i in ids}
    assert outputs == {str(i) for i in range(50)}
