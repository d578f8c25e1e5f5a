"""The trace monitor on the demo's tiny model: a base trained with worked traces, then
plain answer-only SFT (the trace collapses, accuracy stays) and SFT with the real trace
masked (the trace stays), each watched by ``TraceMonitorCallback`` in a real Trainer."""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from testenv import train_tiny_base

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from lm_eval_tracecollapse.builtin.data import easy_item, train_items  # noqa: E402
from lm_eval_tracecollapse.builtin.recipe import chats  # noqa: E402
from lm_eval_tracecollapse.builtin.tiny import build_model, build_tokenizer  # noqa: E402
from lm_eval_tracecollapse.training.masking import TraceMaskCollator, tokenize_with_masks  # noqa: E402
from lm_eval_tracecollapse.training.monitor import TraceMonitorCallback, measure_traces  # noqa: E402

KEYS = [f"trace/{k}" for k in ("valid_rate", "empty_rate", "missing_rate", "truncated_rate", "answer_rate",
                               "pass@1", "rpass@1", "mean_trace_tokens", "eval_seconds")]  # fmt: skip
MEASURE = {"max_new_tokens": 24, "batch_size": 32}


def _held_out(n: int = 32) -> tuple[list[str], list[str]]:
    rng = random.Random(99)
    items = [easy_item(rng.randint(0, 9), rng.randint(0, 9)) for _ in range(n)]
    return [it["question"] for it in items], [it["answer"] for it in items]


PROMPTS, GOLDS = _held_out()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's tiny Llama trained on 1-digit addition with a worked trace (saved)."""
    path = tmp_path_factory.mktemp("monitor") / "base"
    train_tiny_base(path)
    return path


def _load(path: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def _sft_rows(tok: Any, arm: str) -> list[dict[str, list]]:
    items = train_items(1000, seed=1, hard_share=0.0)
    if arm == "plain":  # answer-only targets, trained on the response
        return tokenize_with_masks(chats(items, "none"), tok, mode="prompt", insert_empty_trace=False)
    return tokenize_with_masks(chats(items, "full"), tok, mode="prompt+think")  # the real trace masked


def _args(out: Path, steps: int, lr: float = 1e-3, **kw: Any) -> Any:
    from transformers import TrainingArguments

    defaults = dict(
        output_dir=str(out), per_device_train_batch_size=32, max_steps=steps, learning_rate=lr,
        lr_scheduler_type="constant", report_to=[], save_strategy="no", logging_steps=10,
        remove_unused_columns=False, use_cpu=True, disable_tqdm=True, seed=0,
    )  # fmt: skip
    return TrainingArguments(**{**defaults, **kw})


def _run(base: Path, out: Path, arm: str, steps: int = 60, **monitor: Any) -> tuple[Any, TraceMonitorCallback]:
    from lm_eval_tracecollapse.training.masking import TraceMaskTrainer

    model, tok = _load(base)
    trainer = TraceMaskTrainer(
        model=model, args=_args(out, steps), train_dataset=_sft_rows(tok, arm),
        data_collator=TraceMaskCollator(tok), processing_class=tok,
    )  # fmt: skip
    cb = TraceMonitorCallback(PROMPTS, GOLDS, every_n_steps=20, progress=False, **MEASURE, **monitor).attach(trainer)
    trainer.train()
    return trainer, cb


def _curve(trainer: Any) -> list[tuple[int, float, float]]:
    return [(h["step"], h["trace/valid_rate"], h["trace/pass@1"]) for h in trainer.state.log_history
            if "trace/valid_rate" in h]  # fmt: skip


@pytest.fixture(scope="module")
def plain(base: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, TraceMonitorCallback, Path]:
    out = tmp_path_factory.mktemp("plain")
    trainer, cb = _run(base, out, "plain")
    return trainer, cb, out


# -- measure_traces ------------------------------------------------------------------
@pytest.mark.slow
def test_measure_traces_on_the_base(base: Path) -> None:
    model, tok = _load(base)
    model.train()
    m = measure_traces(model, tok, PROMPTS, GOLDS, progress=False, **MEASURE)
    assert model.training  # train mode restored
    assert m.n == 32 and m.valid_rate >= 0.9 and m.pass_at_1 is not None and m.pass_at_1 >= 0.8
    assert m.rpass_at_1 is not None and m.mean_trace_tokens > 0
    assert m.responses[0].startswith("<think>") and m.finish_reasons[0] == "stop"
    assert m.prompts[0].endswith("<|im_start|>assistant\n") and not m.prefilled
    assert sorted(m.metrics()) == sorted(KEYS)
    # a user grader sees the answer part; no golds: no pass@1
    seen: list[tuple[str, Any]] = []
    measure_traces(model, tok, PROMPTS[:2], GOLDS[:2], grader=lambda a, g: seen.append((a, g)) is None, **MEASURE)
    assert seen[0][0].startswith("The answer is") and seen[0][1] == GOLDS[0]
    bare = measure_traces(model, tok, PROMPTS[:4], progress=False, **MEASURE)
    assert "trace/pass@1" not in bare.metrics() and "trace/rpass@1" not in bare.metrics()
    # a bounded budget: a trace cut at max_new_tokens is truncated
    cut = measure_traces(model, tok, PROMPTS[:4], GOLDS[:4], max_new_tokens=2, progress=False)
    assert cut.truncated_rate == 1.0 and cut.rpass_at_1 is None and "trace/rpass@1" not in cut.metrics()


@pytest.mark.slow
def test_prefilling_template_counts_responses_as_inside_the_trace(base: Path) -> None:
    model, tok = _load(base)
    tok.chat_template = tok.chat_template.replace("assistant\n{% endif %}", "assistant\n<think>{% endif %}")
    assert tok.chat_template.endswith("<think>{% endif %}")
    m = measure_traces(model, tok, PROMPTS[:8], GOLDS[:8], max_new_tokens=3, progress=False)
    assert m.prefilled and m.fmt == "think" and all(t.prefilled for t in m.traces)
    assert m.truncated_rate == 1.0


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="unknown grader 'latex'"):
        TraceMonitorCallback(["1+1"], grader="latex")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="2 prompts but 1 golds"):
        TraceMonitorCallback(["1+1", "2+2"], ["2"])
    with pytest.raises(ValueError, match="every_n_steps"):
        TraceMonitorCallback(["1+1"], every_n_steps=0)
    tok = build_tokenizer(["1+1"], vocab_size=270)
    tok.chat_template = None
    model = build_model(build_tokenizer(["1+1"], vocab_size=270), hidden=16, layers=1, heads=2)
    with pytest.raises(ValueError, match="no chat_template"):
        measure_traces(model, tok, ["1+1"])
    with pytest.raises(ValueError, match="prompts is empty"):
        measure_traces(model, tok, [])


@pytest.mark.slow
def test_grader_must_return_a_bool(base: Path) -> None:
    model, tok = _load(base)
    with pytest.raises(TypeError, match="must return a bool"):
        measure_traces(model, tok, PROMPTS[:1], GOLDS[:1], grader=lambda a, g: 1.0, **MEASURE)  # type: ignore


@pytest.mark.slow
def test_unattached_callback_says_how_to_attach(base: Path, tmp_path: Path) -> None:
    from transformers import Trainer

    model, tok = _load(base)
    cb = TraceMonitorCallback(PROMPTS[:2], progress=False)
    trainer = Trainer(model=model, args=_args(tmp_path, 1), train_dataset=_sft_rows(tok, "plain")[:32],
                      data_collator=TraceMaskCollator(tok), callbacks=[cb])  # fmt: skip
    with pytest.raises(RuntimeError, match=r"attach\(trainer\)"):
        trainer.train()


# -- the two arms ------------------------------------------------------------------------
@pytest.mark.slow
def test_plain_sft_collapses_the_trace_and_the_alarm_fires(plain: Any, caplog: pytest.LogCaptureFixture) -> None:
    trainer, cb, _ = plain
    curve = _curve(trainer)
    print("plain SFT (step, VR, pass@1):", curve)
    assert [s for s, _, _ in curve] == [0, 20, 40, 60]
    assert curve[0][1] >= 0.9 and curve[-1][1] <= 0.2
    logged = next(h for h in trainer.state.log_history if h.get("step") == 60 and "trace/valid_rate" in h)
    assert set(KEYS) - {"trace/rpass@1"} <= set(logged)  # rpass@1 is undefined without a valid trace
    assert cb.alarm_step == 20 and trainer.state.global_step == 60  # fired, training went on


@pytest.mark.slow
def test_alarm_warning_and_stop(base: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="lm_eval_tracecollapse.training.monitor.callback"):
        trainer, cb = _run(base, tmp_path, "plain", steps=60, stop_on_alarm=True)
    alarms = [r.getMessage() for r in caplog.records if "trace collapse alarm" in r.getMessage()]
    assert len(alarms) == 1 and "at step 20" in alarms[0] and "stopping training" in alarms[0]
    assert cb.alarm_step == 20 and trainer.state.global_step == 20


@pytest.mark.slow
def test_the_baseline_survives_a_resume(base: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Plain SFT to step 20 (the trace has collapsed) with a checkpoint there, then a new
    trainer and a new callback resume from it: the baseline is step 0's valid rate, read
    back from the checkpoint's log history, and the alarm fires at the resumed step."""
    from lm_eval_tracecollapse.training.masking import TraceMaskTrainer

    def trainer_and_monitor(steps: int) -> tuple[Any, TraceMonitorCallback]:
        model, tok = _load(base)
        trainer = TraceMaskTrainer(
            model=model, args=_args(tmp_path, steps, save_strategy="steps", save_steps=20),
            train_dataset=_sft_rows(tok, "plain"), data_collator=TraceMaskCollator(tok), processing_class=tok,
        )  # fmt: skip
        monitor = TraceMonitorCallback(PROMPTS, GOLDS, every_n_steps=20, progress=False, **MEASURE).attach(trainer)
        return trainer, monitor

    first, before = trainer_and_monitor(20)
    first.train()
    (_, at_0), (_, at_20) = before.history
    assert at_0.valid_rate - at_20.valid_rate > 0.3 and before.baseline == at_0.valid_rate
    resumed, after = trainer_and_monitor(40)
    caplog.clear()  # the first run alarmed too
    with caplog.at_level(logging.WARNING, logger="lm_eval_tracecollapse.training.monitor.callback"):
        resumed.train(resume_from_checkpoint=str(tmp_path / "checkpoint-20"))
    assert [step for step, _ in after.history] == [20, 40]
    assert after.baseline == at_0.valid_rate and after.alarm_step == 20
    alarms = [r.getMessage() for r in caplog.records if "trace collapse alarm" in r.getMessage()]
    assert len(alarms) == 1 and f"below its baseline {at_0.valid_rate:.2f}" in alarms[0]


@pytest.mark.slow
def test_masked_sft_keeps_the_trace(base: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="lm_eval_tracecollapse.training.monitor.callback"):
        trainer, cb = _run(base, tmp_path, "masked")
    curve = _curve(trainer)
    print("masked SFT (step, VR, pass@1):", curve)
    assert len(curve) == 4 and all(vr >= 0.8 for _, vr, _ in curve)
    assert cb.alarm_step is None and not any("alarm" in r.getMessage() for r in caplog.records)
    assert all(set(KEYS) <= set(h) for h in trainer.state.log_history if "trace/valid_rate" in h)


@pytest.mark.slow
def test_measures_on_the_trainers_evaluations(base: Path, tmp_path: Path) -> None:
    """``every_n_steps=None, on_evaluate=True``: a measurement at step 0, at each of the
    Trainer's evaluations (``eval_strategy="steps"``, every 15 steps) and none twice."""
    from lm_eval_tracecollapse.training.masking import TraceMaskTrainer

    model, tok = _load(base)
    rows = _sft_rows(tok, "plain")
    trainer = TraceMaskTrainer(
        model=model, args=_args(tmp_path, 30, eval_strategy="steps", eval_steps=15), train_dataset=rows,
        eval_dataset=rows[:32], data_collator=TraceMaskCollator(tok), processing_class=tok,
    )  # fmt: skip
    cb = TraceMonitorCallback(PROMPTS, GOLDS, every_n_steps=None, on_evaluate=True, progress=False, **MEASURE)
    cb.attach(trainer)
    trainer.train()
    assert [step for step, _ in cb.history] == [0, 15, 30]
    assert [s for s, _, _ in _curve(trainer)] == [0, 15, 30]
    assert any("eval_loss" in h for h in trainer.state.log_history)  # the Trainer did evaluate


@pytest.mark.slow
def test_saved_generations_read_by_analyze(plain: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from lm_eval_tracecollapse import report
    from lm_eval_tracecollapse.cli import main

    _, cb, out = plain
    root = out / "trace_monitor"
    assert sorted(p.name for p in root.iterdir()) == ["step-0", "step-20", "step-40", "step-60"]
    summaries, problems = report.analyze([root], workers=1, progress=False)
    assert problems.skipped == 0
    by_step = {s.run: s for s in summaries}
    for step, m in cb.history:
        s = by_step[f"step-{step}"]
        assert s.rates["valid"].value == m.valid_rate and s.n == 32
        assert s.pass_at_1 is not None and s.pass_at_1.value == m.pass_at_1
        assert (s.rpass_at_1.value if s.rpass_at_1 else None) == m.rpass_at_1
    main(["analyze", str(root / "step-0"), "--workers", "1"])
    text = capsys.readouterr().out
    assert "trace_monitor" in text and "1.00" in text
    main(["compare", str(root / "step-0"), str(root / "step-60")])
    assert "trace_monitor" in capsys.readouterr().out


@pytest.mark.slow
def test_the_trainers_own_log_rows_are_kept(base: Path, tmp_path: Path) -> None:
    """``every_n_steps == logging_steps``: at every logging step the Trainer's own row
    (``loss``, ``grad_norm``, ``learning_rate``) and the monitor's ``trace/*`` row are both
    in ``log_history`` and both reach every callback's ``on_log`` (what ``report_to``
    integrations receive)."""
    from transformers import TrainerCallback

    from lm_eval_tracecollapse.training.masking import TraceMaskTrainer

    class Received(TrainerCallback):  # receives rows exactly as the report_to integrations do
        def __init__(self) -> None:
            self.rows: list[tuple[int, dict[str, Any]]] = []

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            self.rows.append((state.global_step, dict(logs or {})))

    model, tok = _load(base)
    received = Received()
    trainer = TraceMaskTrainer(
        model=model, args=_args(tmp_path, 20, logging_steps=10), train_dataset=_sft_rows(tok, "plain"),
        data_collator=TraceMaskCollator(tok), processing_class=tok, callbacks=[received],
    )  # fmt: skip
    TraceMonitorCallback(PROMPTS[:8], GOLDS[:8], every_n_steps=10, progress=False, **MEASURE).attach(trainer)
    trainer.train()
    history = trainer.state.log_history
    own = [h for h in history if "loss" in h]
    assert [h["step"] for h in own] == [10, 20]
    assert all({"grad_norm", "learning_rate"} <= set(h) and not any(k.startswith("trace/") for k in h) for h in own)
    assert [h["step"] for h in history if "trace/valid_rate" in h] == [0, 10, 20]
    assert [s for s, r in received.rows if "loss" in r] == [10, 20]
    assert [s for s, r in received.rows if "trace/valid_rate" in r] == [0, 10, 20]


# -- LoRA, TRL, several processes ---------------------------------------------------------
@pytest.mark.slow
def test_lora_with_gradient_accumulation(base: Path, tmp_path: Path) -> None:
    peft = pytest.importorskip("peft")
    from transformers import Trainer

    model, tok = _load(base)
    model = peft.get_peft_model(model, peft.LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "v_proj"]))
    trainer = Trainer(
        model=model, args=_args(tmp_path, 4, gradient_accumulation_steps=2), train_dataset=_sft_rows(tok, "plain"),
        data_collator=TraceMaskCollator(tok), processing_class=tok,
    )  # fmt: skip
    cb = TraceMonitorCallback(PROMPTS, GOLDS, every_n_steps=2, progress=False, **MEASURE).attach(trainer)
    trainer.train()
    logged = [h for h in trainer.state.log_history if "trace/valid_rate" in h]
    assert [h["step"] for h in logged] == [0, 2, 4] and all(set(KEYS) <= set(h) for h in logged)
    assert logged[0]["trace/valid_rate"] >= 0.9 and model.training
    assert [s for s, _ in cb.history] == [0, 2, 4]


@pytest.mark.slow
def test_trl_sft_trainer(base: Path, tmp_path: Path) -> None:
    pytest.importorskip("trl")
    import datasets
    from trl import SFTConfig, SFTTrainer

    model, tok = _load(base)
    args = SFTConfig(
        output_dir=str(tmp_path), per_device_train_batch_size=32, max_steps=2, report_to=[], save_strategy="no",
        logging_steps=1, remove_unused_columns=False, use_cpu=True, disable_tqdm=True,
        dataset_kwargs={"skip_prepare_dataset": True},
    )  # fmt: skip
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=datasets.Dataset.from_list(_sft_rows(tok, "plain")[:64]),
        processing_class=tok, data_collator=TraceMaskCollator(tok),
    )  # fmt: skip
    TraceMonitorCallback(PROMPTS, GOLDS, every_n_steps=1, progress=False, **MEASURE).attach(trainer)
    trainer.train()
    logged = [h for h in trainer.state.log_history if "trace/valid_rate" in h]
    assert [h["step"] for h in logged] == [0, 1, 2] and all(set(KEYS) <= set(h) for h in logged)
    # every_n_steps == logging_steps: TRL's own rows are all there, with the metrics SFTTrainer
    # accumulates between rows (a trace row never takes them)
    own = [h for h in trainer.state.log_history if "loss" in h]
    assert [h["step"] for h in own] == [1, 2] and all("mean_token_accuracy" in h for h in own)
    assert not any("mean_token_accuracy" in h for h in logged)


_DDP_SCRIPT = """
import json, os, sys
from pathlib import Path
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments
from lm_eval_tracecollapse.training.masking import TraceMaskCollator, tokenize_with_masks
from lm_eval_tracecollapse.training.monitor import TraceMonitorCallback

base, out = Path(sys.argv[1]), Path(sys.argv[2])
prompts, golds = json.loads(sys.argv[3])
model, tok = AutoModelForCausalLM.from_pretrained(base), AutoTokenizer.from_pretrained(base)
rows = tokenize_with_masks([{"prompt": p, "response": f"The answer is {g}."} for p, g in zip(prompts, golds)] * 4,
                           tok, mode="prompt", insert_empty_trace=False)
args = TrainingArguments(output_dir=str(out), per_device_train_batch_size=8, max_steps=4, learning_rate=0.0,
                         report_to=[], save_strategy="no", logging_steps=1, remove_unused_columns=False,
                         use_cpu=True, disable_tqdm=True)
trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=TraceMaskCollator(tok),
                  processing_class=tok)
TraceMonitorCallback(prompts, golds, every_n_steps=2, progress=False, max_new_tokens=24, batch_size=32).attach(trainer)
trainer.train()
logged = [h for h in trainer.state.log_history if "trace/valid_rate" in h]
rank = int(os.environ.get("RANK", "0"))
(out / f"rank{rank}.json").write_text(json.dumps({"world": args.world_size, "logged": logged}))
"""


@pytest.mark.slow
def test_two_processes_log_the_numbers_of_one(base: Path, tmp_path: Path) -> None:
    """torchrun (gloo) with 2 processes: only rank 0 generates; both ranks log its numbers,
    which equal a single-process measurement of the same model (lr 0: the model stays the base)."""
    script = tmp_path / "ddp_monitor.py"
    script.write_text(textwrap.dedent(_DDP_SCRIPT))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), str(base), str(tmp_path), json.dumps([PROMPTS, GOLDS])]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]

    def numbers(h: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in h.items() if k.startswith("trace/") and k != "trace/eval_seconds"}

    model, tok = _load(base)
    single = {k: v for k, v in measure_traces(model, tok, PROMPTS, GOLDS, progress=False, **MEASURE).metrics().items()
              if k != "trace/eval_seconds"}  # fmt: skip
    for r in ranks:
        assert [h["step"] for h in r["logged"]] == [0, 2, 4]
        assert all(numbers(h) == single for h in r["logged"])
    assert sorted(p.name for p in (tmp_path / "trace_monitor").iterdir()) == ["step-0", "step-2", "step-4"]
