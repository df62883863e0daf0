"""Bad boxes get clear errors on the run and the target, nothing hangs, other targets carry on."""

import json
import socket
import subprocess
import threading

from tests.daemons import sshd
from tests.helpers import require


def _target(cli, name: str) -> dict:
    return next(t for t in cli.json("targets", "--json")["targets"] if t["name"] == name)


def test_an_unknown_host_key_is_refused_with_a_hint(lab, cli):
    stranger = lab.add_box("stranger", trust=False)
    lab.configure(lab.target("stranger"))
    refused = cli("launch", "--target", "stranger", "--", "true", check=False)
    assert refused.returncode == 5, refused.stderr
    assert f"the host key of [127.0.0.1]:{stranger.port} is not in" in refused.stderr
    assert "ssh-keyscan -p" in refused.stderr and "never accepts an unknown key" in refused.stderr
    assert cli.json("status", "--json", "--all")["runs"] == [], "nothing was queued"
    target = _target(cli, "stranger")
    assert target["status"] == "error" and "is not in" in target["message"]
    lab.client.trust(stranger)                      # what the hint says, then it works
    run_id = cli.launch("echo", "trusted", opts=("--target", "stranger"))
    cli.wait_state(run_id, "succeeded", timeout=60)


def test_a_changed_host_key_is_refused(lab, cli):
    impostor = lab.add_box("impostor", trust=False)
    wrong = lab.client.public_key.split()
    with open(lab.client.known_hosts, "a") as handle:
        handle.write(f"[127.0.0.1]:{impostor.port} {wrong[0]} {wrong[1]}\n")
    lab.configure(lab.target("impostor"))
    refused = cli("launch", "--target", "impostor", "--", "true", check=False)
    assert refused.returncode == 5
    assert "does not match the one in" in refused.stderr and "ssh-keygen -R" in refused.stderr


def test_a_refused_login_is_a_clear_error(lab, cli):
    other_key = lab.root / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)],
                   check=True)
    locked = sshd.SshBox(lab.root, "locked", other_key.with_suffix(".pub").read_text()).start()
    lab.boxes["locked"] = locked
    lab.client.trust(locked)
    lab.client.add_alias("locked", locked)
    lab.configure(lab.target("locked"))
    refused = cli("launch", "--target", "locked", "--", "true", check=False)
    assert refused.returncode == 5
    assert f"root@127.0.0.1:{locked.port} refused the login" in refused.stderr
    assert "identity_file" in refused.stderr


def test_an_unreachable_box_holds_its_runs_and_others_carry_on(lab, cli):
    port = sshd.free_port()
    later = sshd.SshBox(lab.root, "later", lab.client.public_key)
    later.port = port
    lab.client.trust(later)
    lab.client.add_alias("later", later)
    lab.configure(lab.target("later", box=later))
    launched = cli("launch", "--target", "later", "--json", "--", "echo", "arrived")
    reply = json.loads(launched.stdout)
    assert any("refused the connection" in w for w in reply["warnings"]), reply
    run_id = reply["run"]["id"]
    target = _target(cli, "later")
    assert target["status"] == "unreachable" and "refused the connection" in target["message"]
    local = cli.launch("echo", "local-goes-on")
    cli.wait_state(local, "succeeded", timeout=30)
    assert cli.run(run_id)["state"] == "queued"
    lab.boxes["later"] = later.start()
    cli.wait_state(run_id, "succeeded", timeout=90)
    assert cli("logs", str(run_id)).stdout == "arrived\n"
    assert _target(cli, "later")["status"] == "ok"


def test_a_box_that_never_answers_times_out(lab, cli):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    accepted = []
    threading.Thread(target=lambda: accepted.append(silent.accept()), daemon=True).start()
    port = silent.getsockname()[1]
    with open(lab.client.config, "a") as handle:
        handle.write(f"Host silent\n  HostName 127.0.0.1\n  Port {port}\n  User root\n"
                     f"  UserKnownHostsFile {lab.client.known_hosts}\n")
    lab.configure(lab.target("silent", box=lab.box1, host="silent", connect_timeout=1))
    try:
        launched = cli("launch", "--target", "silent", "--json", "--", "true", timeout=30)
        warnings = json.loads(launched.stdout)["warnings"]
        assert any("no answer from root@127.0.0.1" in w and "within 1 s" in w
                   for w in warnings), warnings
        assert _target(cli, "silent")["status"] == "unreachable"
    finally:
        silent.close()


def test_a_work_folder_that_cannot_exist_is_named(lab, cli):
    lab.configure(lab.target("box1", work_dir="/nonexistent-runyard-test/work"))
    refused = cli("launch", "--target", "box1", "--", "true", check=False)
    assert refused.returncode == 5
    assert "the work folder's parent /nonexistent-runyard-test does not exist" in refused.stderr
    assert "work_dir" in refused.stderr


def test_a_full_remote_disk_fails_the_run_clearly_and_loses_nothing(lab, cli, project):
    small = lab.root / "small-disk"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(small)],
                             capture_output=True)
    require(mounted.returncode == 0, f"mounting a tmpfs is needed: {mounted.stderr!r}")
    try:
        lab.configure(lab.target("box1", work_dir=str(small / "work")))
        (project / "weights.bin").write_bytes(b"\x01" * 5_000_000)
        too_big = cli.launch("true", opts=("--target", "box1"))
        failed = cli.wait_state(too_big, "failed", timeout=60)
        assert "no space left in the work folder" in failed["reason"]
        assert "needs 5.0 MB" in failed["reason"]
        assert "runyard: box1: no space left" in cli("logs", str(too_big)).stdout
        target = _target(cli, "box1")
        assert target["status"] == "error" and "no space left" in target["message"]
        (project / "weights.bin").write_bytes(b"\x02" * 1_800_000)   # fits once, not twice
        copy_fails = cli.launch("true", opts=("--target", "box1"))
        failed = cli.wait_state(copy_fails, "failed", timeout=60)
        assert "No space left on device" in failed["reason"], failed["reason"]
        (project / "weights.bin").unlink()
        fine = cli.launch("echo", "fits", opts=("--target", "box1"))
        cli.wait_state(fine, "succeeded", timeout=60)
        assert _target(cli, "box1")["status"] == "ok"
        leftovers = list((small / "work" / "incoming").iterdir())
        assert leftovers == [], "no half-sent transfer left behind"
    finally:
        lab.boxes["box1"].stop()
        subprocess.run(["umount", "-l", str(small)], capture_output=True)


def test_config_mistakes_name_file_key_and_expectation(cli, project):
    cases = [
        ('[targets.b]\nkind = "ssh"\n', "targets.b.host: missing"),
        ('[targets.b]\nkind = "ssh"\nhost = "a b"\n', "targets.b.host: expected"),
        ('[targets.b]\nkind = "ssh"\nhost = "x:99999"\n',
         "targets.b.host: expected a port between 1 and 65535"),
        ('[targets.b]\nkind = "ssh"\nhost = "x"\nport = "22"\n', "targets.b.port: expected"),
        ('[targets.b]\nkind = "ssh"\nhost = "x"\nwork_dir = "rel/dir"\n',
         "targets.b.work_dir: expected a remote folder"),
        ('[targets.b]\nkind = "ssh"\nhost = "x"\nssh_config = "/nope/config"\n',
         "targets.b.ssh_config: expected an existing file"),
        ('[targets.b]\nkind = "ssh"\nhost = "x"\nconnect_timeout = 0\n',
         "targets.b.connect_timeout: expected a number of seconds above 0"),
        ('[targets.b]\nkind = "ssh"\nhost = "x"\npassword = "no"\n',
         "targets.b.password: unknown key"),
    ]
    for text, expected in cases:
        (project / "runyard.toml").write_text(text)
        result = cli("launch", "--target", "b", "--", "true", check=False)
        assert result.returncode == 4, (text, result.stderr)
        assert f"{project / 'runyard.toml'}: {expected}" in result.stderr, (text, result.stderr)
