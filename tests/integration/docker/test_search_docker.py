"""An adaptive search whose trials are containers on a real Docker engine: the pruner reads
the output copied from Docker's log and a pruned trial's container is stopped."""

from tests.daemons.docker_fixtures import write_targets
from tests.searches import pruned_search_on


def test_a_search_in_containers_prunes_and_completes_its_budget(cli, dockerd, busybox_image):
    write_targets(cli.cwd, f'[targets.box]\nkind = "docker"\nimage = "{busybox_image}"\n'
                           f'host = "{dockerd.url}"\nmax_parallel = 2\n')
    pruned_search_on(cli, "box")
