"""Requests about 10,000 runs answer: a sweep of that size (its ids as ranges, or every
run with --full), a chain of two, waiting on, cancelling and removing all of its runs,
each with its documented reply (the engine's heartbeats keep the client waiting while it
works, and it lets them out while it goes through long lists)."""

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
    compact = json.loads(timed("launch --json", "launch", "--json", "--force", "--sweep",
                               f"i={values}", "--", "echo", "{i}").stdout)
    assert compact["schema"] == 1 and compact["count"] == SWEEP and "runs" not in compact
    first = ids[-1] + 1
    assert compact["ids"] == [[first, first + SWEEP - 1]] and compact["run"]["id"] == first
    assert [g["kind"] for g in compact["groups"]] == ["sweep"]
    again = json.loads(timed("launch --json --full", "launch", "--json", "--full", "--force",
                             "--sweep", f"i={values}", "--", "echo", "{i}").stdout)
    assert len(again["runs"]) == SWEEP and again["schema"] == 1 and "ids" not in again
    waited = timed("wait --timeout", "wait", "--timeout", "1", *map(str, ids), check=False)
    assert waited.returncode == 124 and "timed out waiting for run(s)" in waited.stderr
    cancelled = json.loads(timed("cancel", "cancel", "--json", *map(str, ids)).stdout)["runs"]
    assert [r["id"] for r in cancelled] == ids
    assert {(r["state"], r["changed"]) for r in cancelled} == {("cancelled", True)}
    listed = json.loads(timed("status --json", "status", "--json", "--all").stdout)["runs"]
    assert len(listed) == 3 * SWEEP + 1
    removed = json.loads(timed("rm", "rm", "--json", *map(str, ids)).stdout)["removed"]
    assert [r["id"] for r in removed] == ids
    print("10,000 runs: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    cli("cancel", str(blocker))


def test_a_chain_of_two_ten_thousand_run_sweeps_records_and_answers_compactly(cli, project):
    (project / "runyard.toml").write_text("[targets.local]\nmax_parallel = 1\n")
    blocker = cli.launch("sleep", "600")
    (project / "chain.toml").write_text(
        f'[[step]]\nname = "a"\ncommand = "echo a {{i}}"\nsweep = {{ i = "range(0,{SWEEP})" }}\n'
        f'[[step]]\nname = "b"\ncommand = "echo b {{i}}"\nsweep = {{ i = "range(0,{SWEEP})" }}\n'
        'after = ["a"]\n')
    plan = cli.json("launch", "--dry-run", "--json", "--file", "chain.toml", timeout=120)["plan"]
    assert plan["counts"] == {"queue": SWEEP, "wait": SWEEP}     # the blocker holds the slot
    assert plan["runs"][-1]["after_groups"] == [1] and plan["runs"][-1]["after_plan"] == []
    reply = cli.json("launch", "--json", "--file", "chain.toml", timeout=120)
    assert reply["count"] == 2 * SWEEP and reply["ids"] == [[blocker + 1, blocker + 2 * SWEEP]]
    sweeps = [g for g in reply["groups"] if g["kind"] == "sweep"]
    assert [g["runs"] for g in sweeps] == [SWEEP, SWEEP]
    last = cli.run(blocker + 2 * SWEEP)
    assert last["depends_on"] == [] and last["after_groups"] == [sweeps[0]["id"]]
    assert cli.json("engine", "status", "--json")["engine"]["runs"]["queued"] == 2 * SWEEP
