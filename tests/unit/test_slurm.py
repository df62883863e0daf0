"""The slurm target's pure parts: config checks, sbatch flags, squeue parsing, how a job's end
maps to a run's, the batch script, and batching (no cluster needed)."""

import asyncio
import subprocess

import pytest

from core import config
from core.errors import ConfigError
from core.executors import option_checker
from core.executors.base import Exit
from core.executors.slurm.batch import Batcher
from core.executors.slurm.options import sbatch_flags
from core.executors.slurm.script import Task, batch_script, job_env
from core.executors.slurm.states import JobInfo, outcome, parse_job_id, parse_squeue
from core.engine.scheduler import Capacity, Waiting, fits, place


def _target(body: str):
    text = '[targets.hpc]\nkind = "slurm"\n' + body
    return config.load_text(text, target_options=option_checker).targets["hpc"]


def test_keys_are_normalised_and_make_sbatch_flags():
    target = _target('partition = "gpu"\naccount = "lab"\nqos = "high"\ntime_limit = 90\n'
                     'cpus = 4\nmemory = "16GB"\ngpu_type = "a100"\ngres = "gpu:1"\n'
                     'sbatch_options = ["--exclusive", "--constraint=ib"]\n')
    assert target.max_parallel == 100, "Slurm queues; runyard keeps many jobs submitted"
    assert sbatch_flags(target.options, 2) == [
        "--partition=gpu", "--account=lab", "--qos=high", "--time=90", "--cpus-per-task=4",
        "--mem=16G", "--gres=gpu:1", "--gpus=a100:2", "--exclusive", "--constraint=ib"]
    assert sbatch_flags({}, 1) == ["--gpus=1"] and sbatch_flags({}, 0) == []


def test_host_takes_the_ssh_keys(tmp_path):
    target = _target('host = "me@login:2222"\nwork_dir = "/scratch/me/ry"\nkeepalive = 5\n')
    assert target.options["host"] == "me@login:2222"
    assert target.options["work_dir"] == "/scratch/me/ry"


@pytest.mark.parametrize("body, message", [
    ('nodes = 2\n', "targets.hpc.nodes: unknown key"),
    ('work_dir = "~/x"\n', "targets.hpc.work_dir: only applies with host"),
    ('keepalive = 5\n', "targets.hpc.keepalive: only applies with host"),
    ('time_limit = "soon"\n', "targets.hpc.time_limit: expected a Slurm time limit"),
    ('memory = "lots"\n', "targets.hpc.memory: expected a Slurm memory size"),
    ('cpus = 0\n', "targets.hpc.cpus: expected a positive integer"),
    ('partition = "a b"\n', "targets.hpc.partition: expected a Slurm name"),
    ('sbatch_options = ["--array=1-3"]\n', "sbatch_options[0]: expected a flag runyard does not"),
    ('sbatch_options = ["-ofile"]\n', "sbatch_options[0]: expected a flag runyard does not"),
    ('sbatch_options = ["exclusive"]\n', 'sbatch_options[0]: expected an sbatch flag starting'),
    ('gpus = [0, 1]\n', 'targets.hpc.gpus: expected "auto" or "none" (Slurm places GPUs'),
    ('command_timeout = 0\n', "targets.hpc.command_timeout: expected a number of seconds above"),
])
def test_mistakes_name_the_key_and_what_was_expected(body, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        _target(body)


def test_squeue_lines_are_read_among_noise():
    text = ("Welcome to the cluster!\n120_3|PENDING|Priority||1:00:00\n"
            "121|RUNNING|None|node[01-02]|UNLIMITED\n122|CANCELLED+|None||5:00\n")
    jobs = parse_squeue(text)
    assert set(jobs) == {"120_3", "121", "122"}
    assert jobs["120_3"].detail() == "job 120_3 pending (Priority)"
    assert jobs["121"].detail() == "job 121 running on node[01-02]"
    assert jobs["122"].state == "CANCELLED" and not jobs["122"].active
    assert parse_job_id("sbatch: warning: x\n123;cluster2\n") == "123"
    assert parse_job_id("") is None


def _info(state: str, nodes: str = "n1", limit: str = "1:00") -> JobInfo:
    return JobInfo("9", state, "", nodes, limit)


@pytest.mark.parametrize("state, status, expected", [
    ("COMPLETED", Exit(0), Exit(0)),
    ("FAILED", Exit(3, "exit code 3"), Exit(3, "exit code 3")),
    ("TIMEOUT", Exit(143, "received SIGTERM"),
     Exit(143, "Slurm: time limit (1:00) reached; the run: received SIGTERM")),
    ("TIMEOUT", None, Exit(None, "Slurm: time limit (1:00) reached")),
    ("CANCELLED", None, Exit(None, "Slurm: job cancelled", cancelled=True)),
    ("NODE_FAIL", None, Exit(None, "Slurm: node failure (n1); job 9 ended with it", lost=True)),
    ("OUT_OF_MEMORY", Exit(137, "killed by signal 9 (SIGKILL)"),
     Exit(137, "Slurm: out of memory (the job went over its memory limit)")),
    ("PREEMPTED", None, Exit(None, "Slurm: preempted")),
    ("FAILED", None, Exit(None, "Slurm: job 9 failed (no reason given) before the run wrote an "
                                "exit status; see the end of its log")),
])
def test_slurm_end_states_map_to_run_outcomes(state, status, expected):
    assert outcome("9", _info(state), status, None) == expected


def test_a_forgotten_job_ends_by_its_status_or_is_lost():
    assert outcome("9", None, Exit(0), 5.0) == Exit(0, ended_at=5.0)
    lost = outcome("9", None, None, None)
    assert lost.lost and lost.reason == "Slurm no longer knows job 9, and the run left no exit " \
                                        "status"


def test_the_batch_script_runs_each_task_through_the_wrapper_with_exact_arguments(tmp_path):
    wrapper = tmp_path / "wrap.sh"
    wrapper.write_text('shift 3; printf "[%s]" "$@"; echo " $RUN_VAR"\n')
    hostile = ["it's", "$(touch pwned)", "a\nb", "*"]
    tasks = [Task(1, "/r/1", "/r/1/code", {"RUN_VAR": "one"}, ["printf", *hostile]),
             Task(2, "/r/2", "/r/2/code", {"RUN_VAR": "two's"}, ["echo", "x"])]
    script = batch_script(tasks, str(wrapper), "runs 1, 2")
    for task_id, expected in (("0", "[printf][it's][$(touch pwned)][a\nb][*] one\n"),
                              ("1", "[echo][x] two's\n")):
        done = subprocess.run(["sh", "-s"], input=script, capture_output=True, text=True,
                              env={"SLURM_ARRAY_TASK_ID": task_id, "PATH": "/usr/bin:/bin"},
                              cwd=tmp_path)
        assert done.stdout == expected
    assert not (tmp_path / "pwned").exists()
    stray = subprocess.run(["sh", "-s"], input=script, capture_output=True, text=True,
                           env={"SLURM_ARRAY_TASK_ID": "5", "PATH": "/usr/bin:/bin"})
    assert stray.returncode == 1 and "array task 5 has no run" in stray.stderr


def test_the_shells_session_and_slurm_variables_stay_out_of_a_job():
    env = {"HOME": "/h", "SLURM_JOB_ID": "5", "CUDA_VISIBLE_DEVICES": "0", "PWD": "/x",
           "BASH_FUNC_f%%": "() { :; }", "RUNYARD_RUN_ID": "3", "SLURM_MINE": "given"}
    assert job_env(env, explicit={"RUNYARD_RUN_ID", "SLURM_MINE"}) == {
        "HOME": "/h", "RUNYARD_RUN_ID": "3", "SLURM_MINE": "given"}


def test_starts_that_arrive_together_are_submitted_together_by_key():
    submitted = []

    async def submit(items):
        submitted.append(items)
        return [f"handle-{item}" for item in items]

    async def scenario():
        batcher = Batcher(submit, window=0.02)

        async def start(key, item, prepare_for):
            with batcher.preparing():
                await asyncio.sleep(prepare_for)      # a slow preparation holds the batch
            return await batcher.add(key, item)

        first = await asyncio.gather(start("a", 1, 0), start("a", 2, 0.2), start("b", 3, 0))
        later = await start("a", 4, 0)
        return first, later

    first, later = asyncio.run(scenario())
    assert first == ["handle-1", "handle-2", "handle-3"] and later == "handle-4"
    assert sorted(submitted) == [[1, 2], [3], [4]]


def test_a_target_that_places_gpus_takes_any_request_and_hands_out_no_ids():
    slurm = Capacity("hpc", max_parallel=2, places_gpus=True)
    assert fits(slurm, 8) is None
    placed = place([Waiting(1, "hpc", 4), Waiting(2, "hpc", 0), Waiting(3, "hpc", 1)], [],
                   {"hpc": slurm})
    assert [(p.run_id, p.gpu_ids) for p in placed] == [(1, ()), (2, ())]
