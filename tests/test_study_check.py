"""``tracecollapse study --check`` refuses, one line each, what would fail once the study runs
(issue 37): a missing data file, a line without its fields, a strategy's missing traces, a
model path or hub name that does not resolve, a LoRA target module the model lacks, vLLM not
installed, a misspelt monitor key or a bad value, an integration that is not installed, an
unknown task, a template that closes the trace; a good config prints its plan and its jobs.
Also: accelerate's one-process launch of several processes is refused naming the launches
that work; ``report_to``, the run name, the project and the adapter push reach the Trainer's
arguments."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lm_eval_tracecollapse.study import load_config

GOOD = '{"prompt": "1+1", "response": "The answer is 2."}\n' * 20
TRACED = '{"prompt": "1+1", "reasoning": "1+1=2", "response": "2"}\n' * 4


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny Llama (random weights) with a chat template: what --check resolves."""
    from lm_eval_tracecollapse.builtin.tiny import build_model, build_tokenizer

    path = tmp_path_factory.mktemp("model")
    tok = build_tokenizer(["1+1=2 The answer is 2."], vocab_size=280)
    build_model(tok, hidden=32, layers=1, heads=4).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _config(tmp_path: Path, model: Path | str, extra: str = "", data: str | None = GOOD) -> Path:
    """A config with ``extra`` lines (replacing the default lora/evaluation lines they name)."""
    target = tmp_path / "d.jsonl"
    if data is not None:
        target.write_text(data)
    lines = {"name": "t", "model": str(model), "data": f"{{train: {target}}}", "lora": "null",
             "evaluation": "{tasks: [tc_demo_easy], include_defaults: false}"}  # fmt: skip
    for line in extra.splitlines():
        key, _, value = line.partition(": ")
        lines[key] = value
    path = tmp_path / "s.yaml"
    path.write_text("".join(f"{k}: {v}\n" for k, v in lines.items()))
    return path


def _run_check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from lm_eval_tracecollapse.cli import main

    try:
        main(["study", str(path), "--check"])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


REFUSED = [
    ("data file", "", None, "data.train: {tmp}/d.jsonl is not a file (a JSONL of prompt/response or messages)"),
    ("fields", "", '{"prompt": "1+1", "response": "2"}\n{"prompt": "2+2"}\n',
     "data.train: {tmp}/d.jsonl:2: needs 'messages', or 'prompt' and 'response'"),
    ("distillation", "strategies: [distillation]", GOOD,
     "strategies[0] (distillation): data.train: example 0 has no teacher trace ('reasoning'), which distillation "
     "needs"),
    ("model path", "model: {tmp}/no-model", GOOD,
     "model: {tmp}/no-model does not exist (a local model folder, by its path)"),
    ("hub name", "model: nobody/no-such-model-37", GOOD,
     "model: 'nobody/no-such-model-37' does not resolve: no local folder of that name, and no model in the local "
     "Hugging Face cache (offline)"),
    ("lora module", "lora: {target_modules: [q_proj, gateproj]}", GOOD,
     "lora.target_modules: 'gateproj' is not a module of LlamaForCausalLM (did you mean gate_proj?); "
     "its linear layers: down_proj, gate_proj, k_proj, lm_head, o_proj, q_proj, up_proj, v_proj"),
    ("vllm", "evaluation: {backend: vllm, tasks: [tc_demo_easy], include_defaults: false}", GOOD,
     "evaluation.backend: vllm is not installed (pip install vllm), or evaluate with backend: hf"),
    ("monitor key", "monitor: {every_n_step: 5}", GOOD,
     "unknown key monitor.every_n_step (did you mean every_n_steps?); allowed: held_out, every_n_steps, on_evaluate"),
    ("monitor value", "monitor: {alarm_margin: 2}", GOOD,
     "monitor: alarm_margin is a drop in valid rate, between 0 and 1; got 2"),
    ("held out", "monitor: {held_out: 20}", GOOD,
     "monitor.held_out: 20 held-out examples leave none of the 20 to train on"),
    ("report_to", "training: {report_to: [tensorboard]}", GOOD,
     "training.report_to: tensorboard is not installed (pip install tensorboard), or drop it from report_to"),
    ("hub push offline", "training: {hub_model_id: me/collapse}", GOOD,
     "training.hub_model_id: pushing needs the hub, and HF_HUB_OFFLINE is set; unset it or drop the key"),
    ("report_to name", "training: {report_to: tensorbord}", GOOD,
     "training.report_to: 'tensorbord' is not an integration (did you mean tensorboard?)"),
    ("task", "evaluation: {tasks: [tc_demo_eazy], include_defaults: false}", GOOD,
     "evaluation.tasks: 'tc_demo_eazy' is not a task lm-eval knows here (did you mean tc_demo_easy?) "
     "(include_defaults: false leaves lm-eval's own tasks out)"),
    ("data.fmt", "data: {train: {tmp}/d.jsonl, fmt: thinkk}", GOOD, "data.fmt: unknown reasoning format 'thinkk'"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "extra", "data", "line"), REFUSED, ids=[r[0] for r in REFUSED])
def test_check_refuses_each_problem_in_one_line(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    what: str, extra: str, data: str | None, line: str,
) -> None:  # fmt: skip
    from importlib.util import find_spec

    if (what == "vllm" and find_spec("vllm")) or (what == "report_to" and find_spec("tensorboard")):
        pytest.skip(f"{what}: installed here")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = _config(tmp_path, model_dir, extra.replace("{tmp}", str(tmp_path)), data)
    code, _, err = _run_check(path, capsys)
    assert code == 2 and err.count("\n") == 1, err  # one problem, one line
    assert err.startswith(f"tracecollapse study: {path}: " + line.replace("{tmp}", str(tmp_path))), err


def test_check_refuses_a_template_that_closes_the_trace(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Qwen3's real template with thinking off: a traced target fails in tokenisation, so in --check."""
    from real_templates import real_tokenizer

    qwen3 = tmp_path / "qwen3"
    real_tokenizer("qwen3").save_pretrained(qwen3)
    (qwen3 / "config.json").write_text((model_dir / "config.json").read_text())
    extra = "chat_template_kwargs: {enable_thinking: false}\nstrategies: [{kind: partial, weight: 0.5}]"
    path = _config(tmp_path, qwen3, extra, TRACED)
    code, _, err = _run_check(path, capsys)
    assert code == 2 and err.count("\n") == 1, err
    want = "strategies[0] (partial_w0.5): example 0: the generation prompt closes the trace before the model writes"
    assert err.startswith(f"tracecollapse study: {path}: {want} (thinking is off"), err


def test_check_lists_every_problem_and_a_good_config_its_plan(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = "monitor: {every_n_step: 5}\nevaluation: {tasks: [tc_demo_eazy], include_defaults: false}"
    code, _, err = _run_check(_config(tmp_path, model_dir, bad), capsys)
    assert code == 2 and [x.split(": ", 2)[2][:20] for x in err.splitlines()] == [
        "unknown key monitor.", "evaluation.tasks: 't"]  # fmt: skip
    extra = "lora: {r: 4}\nstrategies: [default, mask]\ntraining: {seeds: [1, 2]}"
    code, out, err = _run_check(_config(tmp_path, model_dir, extra), capsys)
    assert (code, err) == (0, "")
    assert out.endswith("; jobs (--only): base default:1 default:2 mask:1 mask:2\n") and "LoRA r=4" in out


def test_accelerate_one_process_launch_is_refused(tmp_path: Path, model_dir: Path) -> None:
    """``accelerate launch --cpu --num_processes 2`` starts one process (accelerate leaves the
    others to mpirun): refused before anything runs, with the launches that start two."""
    from testenv import offline_env

    path = _config(tmp_path, model_dir, f"output_dir: {tmp_path / 'run'}")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2", "-m",
           "lm_eval_tracecollapse", "study", str(path)]  # fmt: skip
    done = subprocess.run(cmd, env=offline_env(), capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode != 0
    ours = [x for x in done.stderr.splitlines() if x.startswith("tracecollapse study:")]
    assert ours == [
        "tracecollapse study: accelerate launch started one process, not the several --num_processes asked for (its "
        "--cpu launch, and any on fewer than two GPUs, starts one and leaves the others to mpirun); launch with "
        "torchrun --nproc_per_node N -m lm_eval_tracecollapse study CONFIG or accelerate launch --multi_gpu "
        "--num_processes N -m lm_eval_tracecollapse study CONFIG (both also without GPUs: DDP over gloo)"
    ]
    assert not (tmp_path / "run").exists()  # nothing started


def test_report_to_run_name_and_project_reach_the_trainer(tmp_path: Path) -> None:
    from lm_eval_tracecollapse.study.config import arms
    from lm_eval_tracecollapse.study.train import _arguments, tracking_environment

    path = tmp_path / "s.yaml"
    tracking = (
        "report_to: [tensorboard, wandb], run_name: sweep3, project: collapse, precision: fp32, hub_model_id: me/c"
    )
    path.write_text(f"name: t\nmodel: m\ndata: {{train: d.jsonl}}\nstrategies: [mask]\ntraining: {{{tracking}}}\n")
    cfg = load_config(path)
    args = _arguments(cfg, arms(cfg)[0], tmp_path / "arm")
    assert (args.report_to, args.run_name, args.project) == (["tensorboard", "wandb"], "sweep3/mask_seed42", "collapse")
    assert tracking_environment(cfg) == {"WANDB_PROJECT": "collapse"}
    assert (args.push_to_hub, args.hub_model_id, args.hub_private_repo) == (True, "me/c-mask_seed42", True)
    path.write_text("name: t\nmodel: m\ndata: {train: d.jsonl}\ntraining: {precision: fp32}\n")
    cfg = load_config(path)
    args = _arguments(cfg, arms(cfg)[0], tmp_path / "arm")
    assert (args.report_to, args.run_name) == ([], "t/default_seed42") and tracking_environment(cfg) == {}
    assert not args.push_to_hub
