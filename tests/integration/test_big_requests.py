"""Requests about 10,000 runs answer: a sweep of that size, waiting on, cancelling and
removing all of its runs, each with its documented reply (the engine's heartbeats keep the
client waiting while it works, and it lets them out while it goes through long lists)."""

import json
import time

SWEEP = 10_000


def test_requests_about_ten_thousand_runs_all_answer(cli, env, project):
    (project / "runyard.toml").write_text("[targets.local]\nmax_parallel = 1\n")
    blocker = cli.launch("sleep", "600")
    values = ",".join(str(i) for i in range(SWEEP))
    timings = {}

    def timed(what, *args, **kwargs):
        began = time.monotonic()
        proc = cli(*args, timeout=300, **kwargs)
        timings[what] = time.monotonic() - began
        return proc

    ids = [int(x) for x in timed("launch", "launch", "--sweep", f"i={values}", "--", "echo",
                                 "{i}").stdout.split()]
    assert len(ids) == SWEEP
    again = json.loads(timed("launch --json", "launch", "--json", "--force", "--sweep",
                             f"i={values}", "--", "echo", "{i}").stdout)
    assert len(again["runs"]) == SWEEP and again["schema"] == 1
    waited = timed("wait --timeout", "wait", "--timeout", "1", *map(str, ids), check=False)
    assert waited.returncode == 124 and "timed out waiting for run(s)" in waited.stderr
    cancelled = json.loads(timed("cancel", "cancel", "--json", *map(str, ids)).stdout)["runs"]
    assert [r["id"] for r in cancelled] == ids
    assert {(r["state"], r["changed"]) for r in cancelled} == {("cancelled", True)}
    listed = json.loads(timed("status --json", "status", "--json", "--all").stdout)["runs"]
    assert len(listed) == 2 * SWEEP + 1
    removed = json.loads(timed("rm", "rm", "--json", *map(str, ids)).stdout)["removed"]
    assert [r["id"] for r in removed] == ids
    print("10,000 runs: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    cli("cancel", str(blocker))
