"""Retries through the real CLI and engine: attempts as linked runs, backoff, regex, GPU OOM.

No GPU exists here: the out-of-memory failure is printed by the test's own command (the
message PyTorch prints), on GPU ids declared in config.
"""

from tests.helpers import epoch, wait_for


def _attempts(cli, first: int) -> list[dict]:
    runs = []
    run = cli.run(first)
    while True:
        runs.append(run)
        if run["retried_as"] is None:
            return runs
        run = cli.run(run["retried_as"])


def test_a_flaky_run_is_retried_with_backoff_and_each_attempt_keeps_its_log(cli, tmp_path):
    counter = tmp_path / "tries"
    script = (f'n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; '
              f'echo "attempt $n"; [ $n -ge 3 ]')
    first = cli.launch("sh", "-c", script,
                       opts=("--retries", "3", "--retry-delay", "0.3"))
    proc = cli("wait", str(first), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"retrying as run {first + 1}" in proc.stderr
    runs = _attempts(cli, first)
    assert [r["state"] for r in runs] == ["failed", "failed", "succeeded"]
    assert [r["attempt"] for r in runs] == [1, 2, 3]
    assert [r["retry_of"] for r in runs] == [None, first, first]
    assert [cli("logs", str(r["id"])).stdout for r in runs] == \
        ["attempt 1\n", "attempt 2\n", "attempt 3\n"]
    gaps = [epoch(b["started_at"]) - epoch(a["finished_at"]) for a, b in zip(runs, runs[1:])]
    assert gaps[0] >= 0.3 and gaps[1] >= 0.6, f"backoff doubles: {gaps}"
    events = [e["message"] for e in cli.json("show", str(first), "--json")["events"]]
    assert any(f"retrying as run {first + 1}: attempt 2 of 4" in m for m in events)


def test_logs_follow_goes_on_through_the_retries(cli, tmp_path):
    counter = tmp_path / "tries"
    script = (f'n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; '
              f'echo "attempt $n"; printf "no newline"; [ $n -ge 3 ]')
    first = cli.launch("sh", "-c", script, opts=("--retries", "3", "--retry-delay", "0.2"))
    proc = cli("logs", "-f", str(first), timeout=60)
    assert proc.stdout == "attempt 1\nno newline\nattempt 2\nno newline\nattempt 3\nno newline"
    assert f"run {first} failed; following its retry, run {first + 1}" in proc.stderr
    assert f"run {first + 1} failed; following its retry, run {first + 2}" in proc.stderr
    assert cli.run(first + 2)["state"] == "succeeded"


def test_exhausted_retries_end_failed_with_the_last_exit_code(cli):
    first = cli.launch("sh", "-c", "echo boom; exit 5", opts=("--retries", "2", "--retry-delay", "0"))
    assert cli("wait", str(first), timeout=60, check=False).returncode == 5
    runs = _attempts(cli, first)
    assert len(runs) == 3 and all(r["state"] == "failed" and r["exit_code"] == 5 for r in runs)
    assert runs[-1]["retried_as"] is None and runs[-1]["retries"] == 2
    events = [e["message"] for e in cli.json("show", str(runs[-1]["id"]), "--json")["events"]]
    assert "no retry left (2 allowed)" in events


def test_retry_on_retries_only_matching_output(cli):
    other = cli.launch("sh", "-c", "echo 'disk on fire'; exit 1",
                       opts=("--retries", "3", "--retry-on", "CUDA out of memory",
                             "--retry-delay", "0"))
    cli("wait", str(other), check=False)
    run = cli.run(other)
    assert run["state"] == "failed" and run["retried_as"] is None
    events = [e["message"] for e in cli.json("show", str(other), "--json")["events"]]
    assert any("does not match --retry-on" in m for m in events)
    bad = cli("launch", "--retry-on", "(", "--", "true", check=False)
    assert bad.returncode == 2 and "not a regular expression" in bad.stderr


def test_out_of_gpu_memory_is_retried_on_another_gpu(cli, project):
    (project / "runyard.toml").write_text("[targets.local]\ngpus = [0, 1]\n")
    script = ('echo "gpu $CUDA_VISIBLE_DEVICES"; if [ "$CUDA_VISIBLE_DEVICES" = 0 ]; then '
              'echo "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB" >&2;'
              ' exit 1; fi')
    first = cli.launch("sh", "-c", script, opts=("--gpus", "1", "--retries", "1",
                                                 "--retry-on", "CUDA out of memory",
                                                 "--retry-delay", "0"))
    assert cli("wait", str(first), timeout=60).returncode == 0
    one, two = _attempts(cli, first)
    assert one["gpus"] == [0] and two["gpus"] == [1]
    assert cli("logs", str(two["id"])).stdout == "gpu 1\n"
    events = [e["message"] for e in cli.json("show", str(first), "--json")["events"]]
    assert any("out of GPU memory on GPU 0" in m for m in events)


def test_a_dependent_waits_through_the_retries_of_its_dependency(cli, tmp_path):
    flag = tmp_path / "second-try"
    first = cli.launch("sh", "-c", f"[ -f {flag} ] || {{ touch {flag}; exit 1; }}",
                       opts=("--retries", "1", "--retry-delay", "0"))
    after = cli.launch("true", opts=("--after", str(first)))
    done = cli.wait_state(after, "succeeded", timeout=60)
    assert _attempts(cli, first)[-1]["state"] == "succeeded"
    assert done["depends_on"] == [first] and cli.run(first)["state"] == "failed"


def test_cancelling_a_run_cancels_its_pending_retry(cli):
    first = cli.launch("sh", "-c", "exit 1", opts=("--retries", "2", "--retry-delay", "60"))
    second = wait_for(lambda: cli.run(first)["retried_as"], what="the first attempt to fail")
    waiting = cli.run(second)
    assert waiting["state"] == "queued" and waiting["not_before"] > cli.run(first)["finished_at"]
    reply = cli.json("cancel", str(first), "--json")
    assert reply["runs"] == [{"id": second, "state": "cancelled", "changed": True}]
    assert cli("wait", str(first), check=False).returncode == 1
    assert cli.run(second)["started_at"] is None


def test_a_pending_retry_keeps_its_delay_across_an_engine_restart(cli):
    first = cli.launch("sh", "-c", "exit 1", opts=("--retries", "1", "--retry-delay", "2"))
    second = wait_for(lambda: cli.run(first)["retried_as"], what="the first attempt to fail")
    cli("engine", "stop")
    cli("status")                                   # revives the engine: a run is queued
    done = cli.wait_state(second, "failed", timeout=60)
    assert epoch(done["started_at"]) >= epoch(done["not_before"])
    assert done["attempt"] == 2 and done["retried_as"] is None
