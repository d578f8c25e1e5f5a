"""Every snippet of the README and ``docs/*.md`` marked ``<!-- readme-test: … -->`` runs as
shown and gives the numbers shown: command blocks (``$ tracecollapse …`` then its output),
``pycon`` doctests, the three-line wrapper YAML, the edited-YAML snippet on the gsm8k
fixture and the masking example.  What cannot run here (GPU, hub, servers) is checked by
``tests/test_docs.py``, which also fails on an unmarked block."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from testenv import REPO, run_tracecollapse

FIX = REPO / "tests" / "fixtures"
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README = "\n".join(p.read_text(encoding="utf-8") for p in PAGES)  # the README and every docs page


def _blocks(kind: str) -> list[str]:
    """The fenced block right after each ``<!-- readme-test: kind -->`` marker, on any page."""
    pattern = rf"<!-- readme-test: {re.escape(kind)} -->\n```[a-z]*\n(.*?)\n```"
    return re.findall(pattern, README, flags=re.S)


def _commands() -> list[tuple[str, list[str]]]:
    found = []
    for block in _blocks("command"):
        for chunk in re.split(r"^(?=\$ )", block, flags=re.M):
            if not chunk.strip():
                continue
            command, *output = chunk.rstrip("\n").split("\n")
            found.append((command[2:].split("  #")[0].strip(), [line.rstrip() for line in output]))
    return found


def test_readme_has_tested_snippets() -> None:
    assert len(_commands()) >= 4 and _blocks("wrapper-yaml") and _blocks("edited-yaml")


def _command_cases() -> list[Any]:
    """``tracecollapse eval`` starts lm-eval: those cases are ``slow`` (``make test-fast`` skips them)."""
    return [pytest.param(c, e, marks=[pytest.mark.slow] if c.split()[1:2] == ["eval"] else []) for c, e in _commands()]


@pytest.mark.parametrize("command,expected", _command_cases(), ids=lambda x: x if isinstance(x, str) else "")
def test_readme_command_prints_what_is_shown(command: str, expected: list[str], tmp_path: Path) -> None:
    run = run_tracecollapse(shlex.split(command), tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line.rstrip() for line in run.stdout.splitlines()]
    if all(line.startswith("|") for line in expected if line):
        lines = [line for line in lines if line.startswith("|")]  # lm-eval's table only
    assert [x for x in lines if x] == [x for x in expected if x]


def _replay(task_manager: Any, task: str) -> dict[str, Any]:
    from lm_eval import simple_evaluate

    import lm_eval_tracecollapse  # noqa: F401  (registers tc_replay)

    res = simple_evaluate(
        model="tc_replay",
        model_args=f"path={FIX / 'replay_gsm8k_local.jsonl'}",
        tasks=[task],
        task_manager=task_manager,
    )
    return res["results"][task]


HEADER = """task: {name}
dataset_path: json
dataset_kwargs:
  data_files: {{test: {data}}}
test_split: test
output_type: generate_until
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: "{{{{answer}}}}"
generation_kwargs: {{until: [], do_sample: false}}
metadata: {{version: 1.0}}
"""


@pytest.mark.slow
def test_readme_wrapper_yaml_runs(tmp_path: Path) -> None:
    from lm_eval.tasks import TaskManager

    [snippet] = _blocks("wrapper-yaml")
    data = FIX / "gsm8k_local.jsonl"
    own = HEADER.format(name="mytask", data=data)
    own += (
        'filter_list:\n  - name: strict-match\n    filter:\n      - {function: regex, regex_pattern: "#### (\\\\d+)"}\n'
    )
    own += (
        '      - {function: take_first}\nmetric_list:\n  - {metric: exact_match, regexes_to_ignore: ["(?s).*#### "]}\n'
    )
    (tmp_path / "mytask.yaml").write_text(own)
    (tmp_path / "mytask_tc.yaml").write_text(snippet + "\n")  # verbatim, beside the task
    row = _replay(TaskManager(include_path=str(tmp_path)), "mytask_tc")
    assert row["valid_rate,strict-match"] == pytest.approx(1 / 3)
    assert row["exact_match,strict-match"] == pytest.approx(2 / 3)


@pytest.mark.slow
def test_readme_edited_yaml_gives_the_numbers_shown(tmp_path: Path) -> None:
    from lm_eval.tasks import TaskManager

    [snippet] = _blocks("edited-yaml")
    text = HEADER.format(name="edited", data=FIX / "gsm8k_local.jsonl") + snippet + "\n"
    (tmp_path / "edited.yaml").write_text(text)
    row = _replay(TaskManager(include_path=str(tmp_path)), "edited")
    shown = {"exact_match": 0.6667, "valid_rate": 0.3333, "pass@1": 0.6667, "rpass@1": 1.0000}
    for metric, value in shown.items():
        assert round(row[f"{metric},strict-match"], 4) == value, metric
        assert f"{metric} {value:.4f}" in " ".join(README.split())  # the page states it


def _pycon_blocks() -> list[str]:
    return _blocks("pycon")


@pytest.mark.parametrize("block", _pycon_blocks(), ids=lambda b: b.splitlines()[0][:40])
def test_readme_python_examples_give_what_is_shown(block: str, tmp_path: Path) -> None:
    """Each ``pycon`` block is a doctest, run by ``python -m doctest`` in its own process."""
    path = tmp_path / "snippet.txt"
    path.write_text(block + "\n")
    run = subprocess.run(
        [sys.executable, "-m", "doctest", "-o", "NORMALIZE_WHITESPACE", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]


@pytest.mark.slow
def test_readme_masking_example_trains(tmp_path: Path) -> None:
    """The masking snippet as shown, given a tokenizer and a model (a tiny local pair)."""
    [block] = _blocks("python (tokenizer, model: yours)")
    preamble = (
        "from lm_eval_tracecollapse.builtin.tiny import build_model, build_tokenizer\n"
        "tokenizer = build_tokenizer(['What is 12 + 7? 19 3 + 4 = 7 2 + 2? 4'], vocab_size=300)\n"
        "model = build_model(tokenizer)\n"
    )
    script = tmp_path / "snippet.py"
    script.write_text(preamble + block + "\nprint('trained', trainer.state.global_step)\n")
    env = {**os.environ, "TQDM_DISABLE": "1"}
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "trained 1" in run.stdout


@pytest.mark.slow
def test_readme_training_snippet_trains_and_monitors(tmp_path: Path) -> None:
    """The README's training snippet (masking, TraceMaskTrainer, TraceMonitorCallback) as
    shown, given its inputs: a tiny local model and tokenizer, three examples, Trainer
    arguments and two monitor prompts; the monitor logs ``trace/*`` at step 0 and at the end."""
    [block] = _blocks("python (data, tokenizer, model, args, prompts, golds: yours)")
    preamble = (
        "from transformers import TrainingArguments\n"
        "from lm_eval_tracecollapse.builtin.tiny import build_model, build_tokenizer\n"
        "tokenizer = build_tokenizer(['What is 12 + 7? 19 3 + 4 = 7 2 + 2? 4 <think> </think>'], vocab_size=300)\n"
        "model = build_model(tokenizer)\n"
        "data = [{'prompt': 'What is 12 + 7?', 'response': '19'},\n"
        "        {'prompt': 'What is 3 + 4?', 'reasoning': '3 + 4 = 7', 'response': '7'}]\n"
        "args = TrainingArguments('out', per_device_train_batch_size=2, max_steps=1, report_to=[],\n"
        "                         remove_unused_columns=False)\n"
        "prompts, golds = ['What is 2 + 2?', 'What is 3 + 5?'], ['4', '8']\n"
    )
    after = "\nprint('monitored', sum('trace/valid_rate' in r for r in trainer.state.log_history))\n"
    script = tmp_path / "snippet.py"
    script.write_text(preamble + block + after)
    env = {**os.environ, "TQDM_DISABLE": "1"}
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "monitored 2" in run.stdout, run.stdout[-2000:]
