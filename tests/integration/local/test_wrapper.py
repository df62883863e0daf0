"""The run wrapper: a command that is a shell builtin runs with its true exit code, and no
command can reach the wrapper's own variables or functions (real runs through the engine)."""

import sys

import pytest

# (argv, state, exit code, reason, what the output must hold)
BUILTINS = [
    (["exit", "0"], "succeeded", 0, None, ""),
    (["exit", "7"], "failed", 7, "exit code 7", ""),
    (["exec", sys.executable, "-c", "print('replaced')"], "succeeded", 0, None, "replaced\n"),
    (["exec", "sh", "-c", "exit 6"], "failed", 6, "exit code 6", ""),
    # The wrapper's variables, old and new names: the command's shell has none of them.
    (["eval", 'echo "[$run_dir$work_dir$runyard_run_dir$runyard_work_dir$runyard_code]"'],
     "succeeded", 0, None, "[]\n"),
    (["unset", "run_dir", "runyard_run_dir", "runyard_code"], "succeeded", 0, None, ""),
    # The old wrapper's own function: a command must not be able to forge its status.
    (["finish", "0", "forged"], "failed", 127, "command not found: finish", ""),
]


@pytest.mark.parametrize("argv, state, code, reason, output", BUILTINS,
                         ids=[" ".join(b[0][:2]) for b in BUILTINS])
def test_a_builtin_command_ends_with_its_true_code(cli, argv, state, code, reason, output):
    run_id = cli.launch(*argv)
    cli("wait", str(run_id), check=False)
    run = cli.run(run_id)
    assert (run["state"], run["exit_code"], run["reason"]) == (state, code, reason)
    shown = cli("logs", str(run_id)).stdout
    assert shown.replace("runyard: command not found: finish\n", "") == output
