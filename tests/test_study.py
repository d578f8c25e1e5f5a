"""``tracecollapse study``: configs (the shipped ones against the paper's note), one-line
errors, and toy studies end to end on CPU (LoRA and full fine-tuning, two strategies,
two checkpoints each) whose table equals a recomputation from lm-eval's logged samples
and whose second run does no work twice."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lm_eval_tracecollapse import parse_trace
from lm_eval_tracecollapse.study import ConfigError, load_config, parse_config, run_study

ROOT = Path(__file__).resolve().parent.parent
STUDIES = ROOT / "studies"
PAPER = {
    "qwen3_8b.yaml": ("Qwen/Qwen3-8B", True),
    "olmo3_7b_think.yaml": ("allenai/OLMo-3-7B-Think", True),
    "r1_distill_llama_8b.yaml": ("deepseek-ai/DeepSeek-R1-Distill-Llama-8B", False),
    "openreasoning_nemotron_7b.yaml": ("nvidia/OpenReasoning-Nemotron-7B", False),
}


def test_studies_folder_holds_the_paper_models_and_the_tiny_config() -> None:
    assert sorted(p.name for p in STUDIES.glob("*.yaml")) == sorted([*PAPER, "tiny_cpu.yaml"])


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_config_matches_the_note(name: str) -> None:
    """docs: /work/shared/notes/paper-study.md (ThinkPack study/config/train.yaml, evaluate.yaml)."""
    cfg = load_config(STUDIES / name)  # every key known, every type right; nothing downloaded
    model, merged = PAPER[name]
    assert cfg.model == model and cfg.model_args == {"dtype": "bfloat16"}
    assert [s.name for s in cfg.strategies] == ["default", "empty", "mask", "respond", "distillation"]
    assert [s.mode for s in cfg.strategies] == ["none", "none", "think", "prompt+think", "none"]
    assert cfg.lora is not None and (cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout) == (16, 16, 0.0)
    assert cfg.lora.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    t = cfg.training
    assert (t.epochs, t.max_steps, t.batch_size, t.grad_accum) == (3.0, None, 2, 2)
    assert (t.lr, t.warmup_ratio, t.weight_decay, t.max_length, t.precision) == (1e-5, 0.1, 0.01, 32768, "bf16")
    assert t.seeds == [42, 67] and t.save_steps == 200
    e = cfg.evaluation
    assert e.backend == "vllm" and e.tasks == ["tc_paper"] and e.apply_chat_template and e.merge_lora is merged
    assert e.gen_kwargs == {"do_sample": False, "temperature": 0, "top_p": 1, "max_gen_toks": 32768, "min_tokens": 32}
    assert e.model_args["tensor_parallel_size"] == 1 and e.model_args["data_parallel_size"] == 1
    assert e.seed == 42 and cfg.data.train == "data/chemistry_train.jsonl"


def test_tiny_config_is_the_demo() -> None:
    """``make demo`` is ``tracecollapse study studies/tiny_cpu.yaml`` (the shipped config, also by
    name); each of its five arms trains exactly the tokens its title says (the prompt never)."""
    from lm_eval_tracecollapse.builtin.tiny import build_tokenizer
    from lm_eval_tracecollapse.demo.pipeline import demo_config
    from lm_eval_tracecollapse.study.data import for_strategy, load_examples
    from lm_eval_tracecollapse.training.masking import tokenize_with_masks

    cfg = load_config(STUDIES / "tiny_cpu.yaml")
    assert load_config("tiny_cpu") == cfg == demo_config("demo_out")
    assert "tracecollapse study studies/tiny_cpu.yaml" in (ROOT / "Makefile").read_text()
    assert cfg.model == "builtin:tiny-arith@small" and cfg.lora is None and cfg.monitor is not None
    assert cfg.evaluation.tasks == ["tc_demo_easy", "tc_demo_hard"] and cfg.evaluation.metadata == {"n": 100}
    tok = build_tokenizer(["0123456789+=, The answer is."], vocab_size=280)
    (example,) = load_examples(cfg)[:1]
    trained: dict[str, tuple[str, str]] = {}
    for spec in cfg.strategies:
        (row,) = tokenize_with_masks(for_strategy([example], spec), tok, mode=spec.mode, weight=spec.weight or 0.5,
                                     insert_empty_trace=spec.insert_empty)  # fmt: skip
        weights = row.get("loss_weights") or [1.0] * len(row["input_ids"])
        full = [t for t, lab, w in zip(row["input_ids"], row["labels"], weights, strict=True) if lab != -100 and w == 1]
        part = [t for t, lab, w in zip(row["input_ids"], row["labels"], weights, strict=True) if lab != -100 and w < 1]
        trained[spec.display] = (tok.decode(full).replace("\n", ""), tok.decode(part).replace("\n", ""))
        assert example["prompt"] in tok.decode(row["input_ids"]) and example["prompt"] not in trained[spec.display][0]
    answer, trace = example["response"], example["reasoning"]
    assert trained == {
        "sft: answer only": (f"{answer}<|im_end|>", ""),
        "sft: <think></think>answer": (f"<think></think>{answer}<|im_end|>", ""),
        "mask: empty think masked": (f"{answer}<|im_end|>", ""),
        "mask: real trace masked": (f"{answer}<|im_end|>", ""),
        "mask: real trace, partial w=0.1": (f"{answer}<|im_end|>", f"<think>{trace}</think>"),
    }


BAD = [
    ("colour: red\n", "unknown key colour; allowed: name, model"),
    ("training: {lrr: 1}\n", "unknown key training.lrr (did you mean lr?); allowed: seeds, epochs"),
    ("training: {batch_size: two}\n", "training.batch_size: expected an integer, got 'two'"),
    ("training: {precision: fp8}\n", "training.precision: 'fp8' is not allowed; use one of fp32, bf16, fp16"),
    ("training: {save_steps: true}\n", "training.save_steps: expected an integer, got True"),
    ("training: {seeds: [1, 1]}\n", "training.seeds: a non-empty list of distinct integers"),
    ("strategies: [maskk]\n", "strategies[0].kind: 'maskk' is not allowed; use one of default, empty, mask"),
    ("strategies: [partial]\n", "strategies[0].weight: partial masking needs 0 < weight < 1, got None"),
    ("strategies: [{kind: mask, weight: 0.5}]\n", "strategies[0].weight: only the partial strategy takes a weight"),
    ("strategies: [mask, mask]\n", "strategies: arm name 'mask' is taken"),
    ("lora: {rank: 8}\n", "unknown key lora.rank; allowed: r, alpha, dropout, target_modules"),
    ("evaluation: {backend: tgi}\n", "evaluation.backend: 'tgi' is not allowed; use one of hf, vllm"),
    ("evaluation: {model_args: {pretrained: x}}\n", "evaluation.model_args: pretrained/peft/lora_local_path are set"),
    ("model: builtin:gpt5\n", "model: unknown built-in 'builtin:gpt5'; built-in models: builtin:tiny-arith"),
    ("data: [1]\n", "data: expected a mapping, got [1]"),
    ("training: {lr: [\n", "not valid YAML at line"),
]


@pytest.mark.parametrize(("extra", "message"), BAD, ids=[b[1].split(":")[0] for b in BAD])
def test_bad_config_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str, message: str) -> None:
    from lm_eval_tracecollapse.cli import main

    good = "name: t\nmodel: /nowhere\ndata: {train: /nowhere.jsonl}\n"
    keys = {line.split(":")[0] for line in extra.splitlines()}
    path = tmp_path / "bad.yaml"
    path.write_text("".join(x + "\n" for x in good.splitlines() if x.split(":")[0] not in keys) + extra)
    with pytest.raises(SystemExit) as exit_info:
        main(["study", str(path), "--check"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"tracecollapse study: {path}: ") and message in err, err


def test_missing_data_and_model_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lm_eval_tracecollapse.cli import main

    with pytest.raises(ConfigError, match=r"^model: required \(a string\)$"):
        parse_config({"name": "t", "data": {"train": "x"}})
    path = tmp_path / "s.yaml"
    path.write_text(f"name: t\nmodel: /nowhere\ndata: {{train: {tmp_path}/none.jsonl}}\noutput_dir: {tmp_path}/o\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["study", str(path)])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    want = (
        f"tracecollapse study: data.train: {tmp_path}/none.jsonl is not a file (a JSONL of prompt/response or messages)"
    )
    assert err == want + "\n"


@pytest.fixture(scope="module")
def trained_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny base that writes valid traces (≈40 steps), saved as a local model folder."""
    from lm_eval_tracecollapse.builtin.data import response, train_items
    from lm_eval_tracecollapse.builtin.recipe import chats, train
    from lm_eval_tracecollapse.builtin.tiny import build_model, build_tokenizer
    from lm_eval_tracecollapse.training.masking import tokenize_with_masks

    path = tmp_path_factory.mktemp("base")
    data = train_items(2000, seed=0, hard_share=0.0)  # (640 items: no closing tag after 40 steps)
    tok = build_tokenizer(["0123456789+=, The answer is.", *(response(it) for it in data[:200])], vocab_size=280)
    model = build_model(tok, hidden=32, layers=2, heads=4)
    train(model, tokenize_with_masks(chats(data, "full"), tok, mode="prompt"), tok, 40, 1e-2, 16, "base")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _config(tmp_path: Path, model: str, lora: str, strategies: str, extra: str = "", gen: str = "") -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(f"""
name: toy
model: {model}
model_args: {{dtype: float32}}
data: {{train: builtin:tiny-arith, limit: 24}}
strategies: {strategies}
lora: {lora}
training: {{seeds: [3], max_steps: 4, batch_size: 4, grad_accum: 1, lr: 3e-3, warmup_ratio: 0.0, precision: fp32,
           save_steps: 2, logging_steps: 2}}
evaluation: {{tasks: [tc_demo_easy], {gen}model_args: {{dtype: float32}}, device: cpu, batch_size: 8,
             include_defaults: false, metadata: {{n: 4}}}}
output_dir: {tmp_path / "run"}
{extra}""")
    return path


def _events(out: Path) -> list[str]:
    return [json.loads(x)["event"] for x in (out / "run_log.jsonl").read_text().splitlines()]


def _recomputed(folder: Path) -> tuple[float, float, float]:
    """(pass@1, Rpass@1, VR) straight from a samples file's raw responses and scores."""
    (samples,) = folder.glob("samples_tc_demo_easy_*.jsonl")
    lines = [json.loads(x) for x in samples.read_text().splitlines()]
    valid = [parse_trace(x["resps"][0][0]).is_valid for x in lines]
    correct = [x["exact_match"] for x in lines]
    good = [c for c, v in zip(correct, valid, strict=True) if v]
    return sum(correct) / len(lines), (sum(good) / len(good) if good else math.nan), sum(valid) / len(lines)


def _check_outputs(out: Path, labels: list[str]) -> None:
    from lm_eval_tracecollapse import report

    table = (out / "table.md").read_text().splitlines()
    assert table[0] == "| run | tc_demo_easy pass@1 | tc_demo_easy Rpass@1 | tc_demo_easy VR |"
    rows = {r.split(" | ")[0].strip("| "): r.strip("| ").split(" | ")[1:] for r in table[2:]}
    finals = ["base", *(x for x in labels if x.endswith("_step4"))]
    assert list(rows) == finals
    for label in finals:  # the table's numbers == recomputation from the logged samples
        want = ["N/A" if v != v else f"{v:.3f}" for v in _recomputed(out / "eval" / label)]
        assert rows[label] == want, label
    summaries, _ = report.analyze([out / "eval"], workers=1, progress=False)  # what `tracecollapse table` reads
    head = [s for s in summaries if s.run in finals]
    head.sort(key=lambda s: finals.index(s.run))
    assert (out / "table.md").read_text() == report.paper_table(head, "markdown") + "\n"
    assert (out / "table.tex").read_text().startswith(r"\begin{tabular}")
    assert sorted(p.name for p in (out / "eval").iterdir()) == sorted(labels)
    assert (out / "figures" / "tc_demo_easy.png").stat().st_size > 5_000
    compare = (out / "compare.txt").read_text()
    assert all(f"## {x} vs base" in compare for x in finals[1:])
    info = json.loads((out / "versions.json").read_text())
    assert info["seeds"] == [3] and info["versions"]["transformers"] and (out / "config.yaml").is_file()


@pytest.mark.slow
def test_lora_study_end_to_end_and_resume(tmp_path: Path, trained_base: Path) -> None:
    monitor = "monitor: {held_out: 2, every_n_steps: 4, max_new_tokens: 24, batch_size: 2, progress: false}"
    path = _config(tmp_path, str(trained_base), "{r: 4, alpha: 8}", "[default, mask]", monitor)
    result = run_study(path)
    out = tmp_path / "run"
    labels = ["base", *(f"{a}_seed3_step{s}" for a in ("default", "mask") for s in (2, 4))]
    assert [ev.label for ev in result["evaluations"]] == labels
    for arm in ("default_seed3", "mask_seed3"):
        for step in (2, 4):
            assert (out / "train" / arm / f"checkpoint-{step}" / "adapter_config.json").is_file()
        assert list((out / "train" / arm / "trace_monitor").iterdir())  # the monitor callback ran
    _check_outputs(out, labels)
    curves = json.loads((out / "training_curves.json").read_text())  # the monitor's points, per arm title
    assert list(curves) == ["default", "mask"] and (out / "figures" / "training_curves.png").is_file()
    assert [[p["step"] for p in c] for c in curves.values()] == [[0, 4], [0, 4]]
    page = (out / "report.html").read_text()  # the page shows them: one line per arm in each panel
    assert 'id="tc-curves"' in page and all(f'id="series-{j}-{i}"' in page for j in (0, 1) for i in (0, 1))
    assert curves["default"][0]["valid_rate"] == curves["mask"][0]["valid_rate"]  # step 0: the same base
    base_vr = _recomputed(out / "eval" / "base")[2]
    assert base_vr > 0.5  # the numbers checked above are not all zero
    before = _events(out)
    assert before.count("train_start") == 2 and before.count("evaluate") == 5 and before.count("checkpoint") == 4
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob(".done")}
    run_study(path)  # the second run: nothing trained or evaluated again
    after = _events(out)[len(before) :]
    assert sorted(set(after)) == ["evaluate_skip", "report", "start", "train_skip"]
    assert {p: p.stat().st_mtime_ns for p in out.rglob(".done")} == stamps
    bad = path.read_text().replace("lr: 3e-3", "lr: 1e-3")
    path.write_text(bad)
    with pytest.raises(ConfigError, match=r"holds a study with a different config \(training changed\)"):
        run_study(path)


@pytest.mark.slow
def test_full_finetune_study_resumes_an_interrupted_arm(tmp_path: Path) -> None:
    monitor = "monitor: {held_out: 2, every_n_steps: 1, max_new_tokens: 8, batch_size: 2, progress: false}"
    path = _config(tmp_path, "builtin:tiny-arith@toy", "null", "[empty, {kind: partial, weight: 0.1, title: 'p: w'}]",
                   monitor, gen="gen_kwargs: {max_gen_toks: 40}, ")  # fmt: skip
    run_study(path, stage="train")
    out = tmp_path / "run"
    arm = out / "train" / "partial_w0.1_seed3"
    assert (arm / "checkpoint-4" / "model.safetensors").is_file() and not (out / "eval").exists()
    # as if killed after checkpoint 2: the arm unfinished, checkpoint 4 half-written
    (arm / ".done").unlink()
    (arm / "checkpoint-4" / ".done").unlink()
    n = len(_events(out))
    result = run_study(path)
    events = [json.loads(x) for x in (out / "run_log.jsonl").read_text().splitlines()][n:]
    starts = [e for e in events if e["event"] == "train_start"]
    assert len(starts) == 1 and starts[0]["resume_from"] == str(arm / "checkpoint-2")
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [4]
    labels = ["base", *(f"{a}_seed3_step{s}" for a in ("empty", "partial_w0.1") for s in (2, 4))]
    assert [ev.label for ev in result["evaluations"]] == labels
    _check_outputs(out, labels)
    # the resumed arm's curve is whole: its steps before the interruption came back with checkpoint-2
    curves = json.loads((out / "training_curves.json").read_text())
    assert {t: [p["step"] for p in c] for t, c in curves.items()} == {"empty": [0, 1, 2, 3, 4], "p: w": [0, 1, 2, 3, 4]}
    (samples,) = (out / "eval" / "base").glob("samples_*.jsonl")  # gen_kwargs reached lm-eval
    assert json.loads(samples.read_text().splitlines()[0])["arguments"]["gen_args_0"]["arg_1"]["max_gen_toks"] == 40


def test_data_shapes_per_strategy(tmp_path: Path) -> None:
    from lm_eval_tracecollapse.study.config import StrategyKind, StrategySpec
    from lm_eval_tracecollapse.study.data import for_strategy, load_examples

    chat = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>t</think>a"}]}
    (dropped,) = for_strategy([chat], StrategySpec(StrategyKind.RESPOND))
    assert dropped["messages"][-1] == {"role": "assistant", "content": "a"}
    (kept,) = for_strategy([chat], StrategySpec(StrategyKind.DISTILLATION))
    assert kept["messages"][-1] == {"role": "assistant", "content": "a", "reasoning": "t"}
    assert chat["messages"][-1]["content"] == "<think>t</think>a"  # the input is left alone
    with pytest.raises(ValueError, match="example 0 has no teacher trace"):
        for_strategy([{"prompt": "q", "response": "a"}], StrategySpec(StrategyKind.DISTILLATION))
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "q", "response": "a"}\n\n{"prompt": "q"}\n')
    cfg = parse_config({"name": "t", "model": "m", "data": {"train": str(data)}})
    with pytest.raises(ValueError, match=r"^data.train: .*d.jsonl:3: needs 'messages', or 'prompt' and 'response'$"):
        load_examples(cfg)
    data.write_text('{"prompt": "q", "response": "a"}\n{"prompt": \n')
    with pytest.raises(ValueError, match=r"^data.train: .*d.jsonl:2: not valid JSON"):
        load_examples(cfg)
    data.write_text('["q", "a"]\n')
    with pytest.raises(ValueError, match=r"^data.train: .*d.jsonl:1: expected a JSON object, got list$"):
        load_examples(cfg)


@pytest.mark.slow
def test_study_under_two_processes(tmp_path: Path) -> None:
    """The whole study under ``accelerate launch --multi_gpu --num_processes 2`` (accelerate's
    torchrun launch; on this CPU machine DDP over gloo): every event, marker and output is written
    once (by rank 0), the Trainer runs DDP over gloo (before the fix each rank saw one process and
    wrote everything twice), lm-eval runs on the main process (its ``hf`` model splits documents
    over GPUs only); the base's evaluation equals a one-process run of the same config line for
    line, and the monitor's collapse alarm is said once per arm, as in one process
    (``accelerate launch --cpu`` starts one process: refused, tests/test_study_check.py)."""
    import subprocess
    import sys

    from testenv import offline_env

    monitor = ("monitor: {held_out: 2, every_n_steps: 2, max_new_tokens: 8, batch_size: 2, progress: false, "
               "baseline_valid_rate: 1.0, alarm_margin: 0.0}")  # fmt: skip
    runs, alarms = {}, {}
    for procs in (1, 2):
        where = tmp_path / f"p{procs}"
        where.mkdir()
        path = _config(where, "builtin:tiny-arith@toy", "null", "[empty, {kind: partial, weight: 0.1}]", monitor)
        launch = ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--main_process_port",
                  "0", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]  # fmt: skip
        cmd = [sys.executable, *(launch if procs == 2 else []), "-m", "lm_eval_tracecollapse", "study", str(path)]
        done = subprocess.run(cmd, env=offline_env(OMP_NUM_THREADS="1"), capture_output=True, text=True,
                              timeout=600, check=False, cwd=where)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        runs[procs] = where / "run"
        alarms[procs] = [x for x in done.stderr.splitlines() if "trace collapse alarm at step" in x]
    out = runs[2]
    events = _events(out)
    assert events.count("start") == 1 and events.count("train_start") == 2 and events.count("train_done") == 2
    assert events.count("checkpoint") == 4 and events.count("evaluate") == 5 and events.count("report") == 1
    assert json.loads((out / "run_log.jsonl").read_text().splitlines()[0])["processes"] == 2
    assert len(alarms[2]) == len(alarms[1]) == events.count("alarm") == 2  # once per arm, not once per process
    labels = ["base", *(f"{a}_seed3_step{s}" for a in ("empty", "partial_w0.1") for s in (2, 4))]
    _check_outputs(out, labels)  # the table == recomputation from the gathered samples
    curves = json.loads((out / "training_curves.json").read_text())
    assert {t: [p["step"] for p in c] for t, c in curves.items()} == {"empty": [0, 2, 4], "partial_w0.1": [0, 2, 4]}

    def lines(run: Path) -> list[tuple[int, str]]:
        (samples,) = (run / "eval" / "base").glob("samples_tc_demo_easy_*.jsonl")
        return sorted((x["doc_id"], x["resps"][0][0]) for x in map(json.loads, samples.read_text().splitlines()))

    assert lines(out) == lines(runs[1]) and len(lines(out)) == 4  # every document once, the same answers


@pytest.mark.slow
def test_job_array_collect_seed_means_and_changed_data(tmp_path: Path) -> None:
    """``--only ARM:SEED`` jobs and ``--only base`` in one folder, then ``--collect``: refused
    (naming the jobs) until every one is done, then the table: one row per strategy, mean ± spread
    over its seeds; a data file edited in place is refused on the next run, like a changed config."""
    from lm_eval_tracecollapse.builtin.recipe import sft_examples
    from lm_eval_tracecollapse.cli import main

    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps(x) + "\n" for x in sft_examples("toy")))
    path = _config(tmp_path, "builtin:tiny-arith@toy", "null", "[mask]")
    text = path.read_text().replace("builtin:tiny-arith, limit: 24", f"{data}, limit: 24")
    path.write_text(
        text.replace("seeds: [3]", "seeds: [3, 4]").replace("batch_size: 8,", "batch_size: 8, checkpoints: final,")
    )
    out = tmp_path / "run"
    run_study(path, only="mask:3")
    assert (out / "train" / "mask_seed3" / ".done").is_file() and not (out / "train" / "mask_seed4").exists()
    assert sorted(p.name for p in (out / "eval").iterdir()) == ["mask_seed3_step4"] and not (out / "table.md").exists()
    with pytest.raises(ValueError, match=r"^--collect: not every job is done: mask_seed4 is not trained "
                       r"\(--only mask:4\); base is not evaluated \(--only base\)$"):  # fmt: skip
        run_study(path, collect=True)
    data.write_text(data.read_text() + data.read_text().splitlines()[0] + "\n")  # edited in place
    with pytest.raises(ConfigError, match=r"^data.train: .*sft.jsonl changed since this study started in .*run "
                       r"\(sha256 \w{12} then, \w{12} now; \d+ -> \d+ bytes\); restore the file"):  # fmt: skip
        run_study(path, only="mask:4")
    data.write_text("".join(data.read_text().splitlines(keepends=True)[:-1]))  # restored
    run_study(path, only="mask:4")
    main(["study", str(path), "--only", "base"])
    main(["study", str(path), "--collect"])
    rows = {
        r.split(" | ")[0].strip("| "): r.strip("| ").split(" | ")[1:]
        for r in (out / "table.md").read_text().splitlines()[2:]
    }
    assert list(rows) == ["base", "mask (2 seeds)"]
    vr = [_recomputed(out / "eval" / f"mask_seed{s}_step4")[2] for s in (3, 4)]
    mean, spread = sum(vr) / 2, abs(vr[0] - vr[1]) / 2**0.5
    assert rows["mask (2 seeds)"][2] == f"{mean:.3f} ± {spread:.3f}"
    assert rows["base"][2] == f"{_recomputed(out / 'eval' / 'base')[2]:.3f}"
    assert "mask_seed3_step4" in (out / "table_all.md").read_text()  # every seed still in the full table
    assert [json.loads(x).get("only") for x in (out / "run_log.jsonl").read_text().splitlines()
            if json.loads(x)["event"] == "start"] == ["mask:3", "mask:4", "base", None]  # fmt: skip
