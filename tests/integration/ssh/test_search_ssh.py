"""An adaptive search whose trials run on an SSH box (OpenSSH on loopback): the pruner reads
the output mirrored from the box and stops trials there."""

from tests.helpers import process_alive, wait_for
from tests.searches import pruned_search_on


def test_a_search_on_a_box_prunes_there_and_completes_its_budget(lab, cli):
    lab.configure(lab.target("box1"))
    pruned, _ = pruned_search_on(cli, "box1")
    for run in pruned.values():
        remote = lab.remote_run_dir(lab.box1, run["id"])
        assert (remote / "output.log").read_text() == cli("logs", str(run["id"])).stdout
        wait_for(lambda: not process_alive(lab.handle(run["id"])["pid"]), timeout=20,
                 what="the pruned trial's process on the box to be gone")
