"""A run over its Slurm time limit: failed, with Slurm's reason. Sorts after the other slurm
tests on purpose: its run was started before them (slurm/conftest.py, `time_limited_run`)."""


def test_a_run_over_its_time_limit_fails_with_slurms_reason(time_limited_run):
    cli, run_id, lab = time_limited_run
    run = cli.wait_state(run_id, "failed", timeout=150)
    # Slurm sends SIGTERM to the whole job; whether the wrapper notes it before the command
    # ends is a race, so the reason may or may not add "; the run: received SIGTERM".
    assert run["reason"].startswith("Slurm: time limit (1:00) reached"), run
    assert run["exit_code"] == 143
    assert lab.cluster.job_field(lab.job(run_id), "JobState") == "TIMEOUT"
    assert "DUE TO TIME LIMIT" in cli("logs", str(run_id)).stdout, "Slurm's own note is kept"
