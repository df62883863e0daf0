"""Metrics come from output lines and the metrics file, exactly once, with steps."""

import json
import math

from core.engine.ingest import MAX_LINE, IngestState, Ingestor
from core.metrics.parser import OutputParser
from core.metrics.rules import MetricRules


def points(text: str, rules: MetricRules = MetricRules()) -> list:
    parser = OutputParser(rules)
    return parser.feed(text) + parser.finish()


def values(text: str, rules: MetricRules = MetricRules()) -> dict:
    return {name: value for name, _step, value in points(text, rules)}


def test_line_forms():
    assert values("loss=0.31 acc=0.91\n") == {"loss": 0.31, "acc": 0.91}
    assert values("epoch 3 done: val_loss: 0.25, lr = 1e-3\n") == {"val_loss": 0.25, "lr": 0.001}
    assert values("[12:30:01] time: 12:30 url=http://x:80 loss=nan\n").keys() == {"loss"}
    assert values("loss=nan\n") == {"loss": None}            # None stands for NaN
    assert values('{"loss": 0.5, "name": "x", "ok": true}\n') == {"loss": 0.5}
    assert values("\x1b[32mloss=0.2\x1b[0m\n") == {"loss": 0.2}
    assert values("accuracy 93.5%\n") == {}


def test_units_times_and_library_chatter_are_not_metrics():
    assert values("Total training time: 0.00 seconds.\n") == {}
    assert values("TPU available: False, using: 0 TPU cores\n") == {}
    assert values("took: 3 seconds, done: 12 samples\n") == {}
    assert values("epoch_time: 0.66s speed: 25.1it/s\n") == {}
    assert values("[LightGBM] [Info] Number of positive: 741, number of negative: 759\n") == {}
    assert values("[LightGBM] [Info] [binary:BoostFromScore]: pavg=0.5 -> initscore=0.1\n") == {}
    assert values("`Trainer.fit` stopped: `max_epochs=3` reached.\n") == {}


def test_runyards_own_notes_in_a_log_are_not_metrics():
    """The run wrapper's and the engine's lines read as `key: value`: a command named `5`
    gave the metric found=5, and a run that left a process behind the metric running=1."""
    assert values("runyard: command not found: 5\n") == {}
    assert values("runyard: ended processes the run left running: 1 process "
                  "(pid 4242: sleep 300)\n") == {}
    assert values("runyard: command not found: 5\nloss=0.5\n") == {"loss": 0.5}


def test_lines_led_by_their_step():
    assert points("Step 100: loss 0.45\n") == [("loss", 100, 0.45)]
    assert points("epoch 3/10 - loss: 0.4 - acc: 0.81\n") == [("loss", 3, 0.4), ("acc", 3, 0.81)]
    assert points("Iteration 7 loss=0.3\nacc=0.5\n") == [("loss", 7, 0.3), ("acc", 7, 0.5)]
    # `epoch 3 done:` is not a step: a word follows the number.
    assert points("step=20 x=1\nepoch 3 done: val=2\n") == [("x", 20, 1.0), ("val", 20, 2.0)]


def test_each_redraw_of_a_line_is_read_once():
    assert points("loss=1\nloss=1\n") == [("loss", 0, 1.0), ("loss", 1, 1.0)]  # lines, not redraws
    text = "".join(f"\rstep {i} loss={1 / (i + 1):.4f}" for i in range(5)) + "\rstep 4 loss=0.2000\n"
    assert points(text) == [("loss", i, round(1 / (i + 1), 4)) for i in range(5)]


def test_config_patterns_with_step_and_prefix_groups():
    rules = MetricRules(patterns=(r"accuracy (?P<acc>[0-9.]+)%",
                                  r"(?P<key>\w+) -> (?P<value>[0-9.]+) @(?P<step>\d+)",
                                  r"(?P<prefix>train|val) top1 (?P<top1>[0-9.]+)"))
    assert values("accuracy 93.5%\n", rules) == {"acc": 93.5}
    assert points("f1 -> 0.8 @12\nloss=3\n", rules) == [("f1", 12, 0.8), ("loss", 12, 3.0)]
    assert values("val top1 0.7\n", rules) == {"val/top1": 0.7}


def test_readers_switched_off_and_names_ignored():
    text = "[10]\ttrain-logloss:0.45\n{'v_num': 3, 'loss': 0.5}\n"
    assert values(text) == {"train/logloss": 0.45, "v_num": 3.0, "loss": 0.5}
    rules = MetricRules(disable=("xgboost", "dict"), ignore=("v_*",))
    # Off, XGBoost's line falls to the key=value reader; the dict's quoted keys are not pairs.
    assert values(text, rules) == {"train-logloss": 0.45}
    assert values("loss=1 v_num=3\n", MetricRules(ignore=("v_*",))) == {"loss": 1.0}


def test_steps_counters_and_exactly_once(tmp_path):
    log, mfile = tmp_path / "output.log", tmp_path / "metrics.jsonl"
    log.write_bytes(b"loss=1\nloss=0.9\npartial loss=0.")
    ingest = Ingestor(log, mfile)
    assert ingest.poll().rows == [("loss", 0, 1.0), ("loss", 1, 0.9)]
    with open(log, "ab") as handle:
        handle.write(b"5\nstep=10 loss=0.4\nacc=0.7\n")
    mfile.write_text(json.dumps({"step": 20, "val": 0.3}) + "\n")
    assert ingest.poll().rows == [("loss", 2, 0.5), ("loss", 10, 0.4), ("acc", 10, 0.7),
                                  ("val", 20, 0.3)]
    # A restarted engine resumes from the stored state: nothing again, nothing skipped.
    again = Ingestor(log, mfile, state=IngestState.from_dict(
        json.loads(json.dumps(ingest.state.to_dict()))))
    assert again.poll().rows == []
    with open(log, "ab") as handle:
        handle.write(b"loss=0.1\nlast=1")
    assert again.poll().rows == [("loss", 10, 0.1)]       # each file keeps its own step
    assert again.poll(final=True).rows == [("last", 10, 1.0)]   # the run ended: it counts


def test_state_written_by_an_older_engine_is_taken_over(tmp_path):
    log = tmp_path / "output.log"
    log.write_bytes(b"loss=1\nloss=2\n")
    old = {"log_offset": 7, "log_skipping": False, "file_offset": 0, "step": None,
           "counters": {"loss": 1}}
    assert Ingestor(log, tmp_path / "none", state=IngestState.from_dict(old)).poll().rows == \
        [("loss", 1, 2.0)]


def test_a_huge_line_without_newline_is_skipped(tmp_path):
    log = tmp_path / "output.log"
    log.write_bytes(b"loss=1\n" + b"x" * (MAX_LINE + 10))
    ingest = Ingestor(log, tmp_path / "none")
    assert ingest.poll().rows == [("loss", 0, 1.0)]
    with open(log, "ab") as handle:
        handle.write(b" loss=5\nloss=2\n")
    assert ingest.poll().rows == [("loss", 1, 2.0)]


def test_values_and_steps_that_do_not_fit_are_skipped_with_one_warning():
    parser = OutputParser()
    text = ("step=1e30 loss=1\nstep=99999999999999999999 loss=2\nstep=2.5 loss=3\n"
            "loss=1e999\nloss=-1e999\nstep=7 loss=4\n" + '{"loss": 1%s}\n' % ("0" * 400))
    assert parser.feed(text) == [("loss", 7, 4.0)]
    warnings = parser.take_warnings()
    assert len(warnings) == 2, warnings                  # one per kind: step, value
    assert "1e30" in warnings[0] and "1e999" in warnings[1]
    assert parser.feed("step=1e40 loss=5\n") == [] and parser.take_warnings() == []
    assert math.isinf(values("loss=inf\n")["loss"])      # infinity printed as such is kept


def test_hostile_names_are_skipped():
    parser = OutputParser()
    text = json.dumps({"a\x1b]0;title\x07": 1, "x" * 300: 2, "ok": 3}) + "\n"
    assert parser.feed(text) == [("ok", 0, 3.0)]
    assert len(parser.take_warnings()) == 1


def test_the_readme_metrics_example_is_valid_and_does_what_it_says():
    import re

    from core import config
    from tests.helpers import REPO
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("#### Your own patterns"):]
    block = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    rules = config.load_text(block).metrics
    assert rules.disable == ("keras",) and rules.ignore == ("v_num", "*_runtime")
    assert points("accuracy 93.5%\nf1 -> 0.8\nit 7: val top1 0.81\nv_num=3 eval_runtime=2\n",
                  rules) == [("acc", 0, 93.5), ("f1", 0, 0.8), ("val/top1", 7, 0.81)]


def test_config_mistakes_in_metrics_name_the_key():
    import pytest

    from core import config
    from core.errors import ConfigError
    for text, key in (("[metrics]\npatterns = ['(']\n", "metrics.patterns[0]"),
                      ("[metrics]\npatterns = ['no groups']\n", "metrics.patterns[0]"),
                      ("[metrics]\npatterns = ['(?P<key>x)']\n", "metrics.patterns[0]"),
                      ("[metrics]\ndisable = ['tqdm']\n", "metrics.disable[0]"),
                      ("[metrics]\nignore = 3\n", "metrics.ignore"),
                      ("[metrics]\nreaders = []\n", "metrics")):
        with pytest.raises(ConfigError) as caught:
            config.load_text(text)
        assert key in caught.value.message, (text, caught.value.message)


HOSTILE_LINES = {          # each aimed at one reader's regexes (near 16 KB) or at them all (1 MB)
    "bar counts": "[|" + "1" * 15_000, "bar starts": "|it [" + "1/2 [00:00<" * 1_300,
    "lightgbm items": "[1]\t" + "x's " * 3_700, "xgboost items": "[1]\ta-" + ":1x" * 5_000,
    "python dict": "{" + ",'" * 7_000 + "}", "keras items": "1/2 - " + " - a: 1x" * 1_800,
    "sklearn table": "1  " + "1 " * 7_000, "escapes": "\x1b[" + "1;" * 500_000,
    "pairs": "a=1 " * 250_000, "colons": "a:" * 500_000, "spaces": "a" + " " * 1_000_000 + "x",
    "leading step": "step 1 " + "a " * 500_000, "backspaces": "a\b" * 500_000,
}


def test_no_line_can_make_the_readers_take_long():
    """A regex that backtracks quadratically takes minutes on these lines (the progress
    reader once took 10 s on a 15 KB one, holding the engine); the limit is far above what
    linear work needs, so it only catches that."""
    import time
    for name, line in HOSTILE_LINES.items():
        started = time.monotonic()
        OutputParser().feed(line + "\n")
        assert time.monotonic() - started < 5, name
