"""`tui metrics --reparse`: ended runs read anew, through the engine, with the rules now."""

import sys

PRINTS = ("import sys\n"
          "for step in range(1, 4):\n"
          "    print(f'accuracy {90 + step}.5% at {step}', flush=True)\n"
          "    print(f'loss={1 / step} v_num=0', flush=True)\n")


def test_reparse_applies_new_patterns_to_old_runs(cli, project):
    (project / "acc.py").write_text(PRINTS)
    first = cli.launch(sys.executable, "acc.py")
    second = cli.launch(sys.executable, "acc.py", opts=("--force",))
    cli("wait", str(first), str(second))
    assert set(cli.json("metrics", str(first), "--json")["metrics"]) == {"loss", "v_num"}
    (project / "runyard.toml").write_text(
        "[metrics]\n"
        "patterns = ['''accuracy (?P<acc>[\\d.]+)% at (?P<step>\\d+)''']\n"
        "ignore = ['v_*']\n")
    out = cli("metrics", "--reparse", str(first), str(second))
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["ID", "POINTS", "BEFORE", "METRICS"]
    assert lines[1].split() == [str(first), "6", "6", "acc", "loss"]
    assert "runyard.toml" in out.stderr
    series = cli.json("metrics", str(second), "--json")["metrics"]
    assert series == {"acc": [[1, 91.5], [2, 92.5], [3, 93.5]],
                      "loss": [[1, 1.0], [2, 0.5], [3, 1 / 3]]}
    assert cli.run(first)["metrics"] == {"acc": 93.5, "loss": 1 / 3}
    events = [e["message"] for e in cli.json("show", str(first), "--json")["events"]]
    assert any(m.startswith("metrics read anew with the rules of") for m in events)
    # Switching a reader off takes its metrics away on the next reparse.
    (project / "runyard.toml").write_text("[metrics]\ndisable = ['keyvalue']\n")
    data = cli.json("metrics", "--reparse", str(first), "--json")
    assert data["schema"] == 1 and data["runs"][0]["metrics"] == []
    assert data["runs"][0]["points_before"] == 6 and data["runs"][0]["points"] == 0


def test_reparse_of_a_sweep_and_of_runs_not_ended(cli, project):
    (project / "acc.py").write_text(PRINTS + "import time\ntime.sleep(float(sys.argv[1]))\n")
    ids = [int(i) for i in cli("launch", "--sweep", "wait=0,0.1", "--", sys.executable, "acc.py",
                               "{wait}").stdout.split()]
    cli("wait", *map(str, ids))
    group = cli.run(ids[0])["group"]
    running = cli.launch(sys.executable, "acc.py", "60")
    cli.wait_state(running, "running")
    refused = cli("metrics", "--reparse", str(ids[0]), str(running), check=False)
    assert refused.returncode == 2
    assert f"run {running} has not ended" in refused.stderr and "hint:" in refused.stderr
    (project / "runyard.toml").write_text("[metrics]\nignore = ['loss']\n")
    data = cli.json("metrics", "--reparse", "--group", str(group), "--json")
    assert [r["id"] for r in data["runs"]] == ids
    assert all(r["metrics"] == ["v_num"] for r in data["runs"])
    assert cli("metrics", str(ids[0]), str(ids[1]), check=False).returncode == 2
    cli("cancel", str(running))
