"""Probe construction from a finished run (issue 10, first part)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lm_eval_tracecollapse.probes import build_probes, modify, split_steps, write_probes

REAL = Path(__file__).parent / "fixtures" / "lm_eval_run" / "base"


def test_split_steps() -> None:
    assert split_steps("first line\nsecond line") == ["first line\n", "second line"]
    assert split_steps("One. Two! Three?") == ["One. ", "Two! ", "Three?"]
    assert split_steps("3+8=11,2+4+1=7") == ["3+8=11,", "2+4+1=7"]
    assert split_steps(" single ") == ["single"] and split_steps("  ") == []
    text = "We add.\nThen carry, and check; done."
    assert "".join(split_steps(text)) == text


def test_modifications() -> None:
    steps = split_steps("We add 3+8=11. So the total is 11. Check it. Done.")
    assert [modify(steps, "early", k) for k in (0, 25, 50)] == [
        "", "We add 3+8=11. ", "We add 3+8=11. So the total is 11. ",
    ]  # fmt: skip
    assert modify(steps, "early", 100) == "We add 3+8=11. So the total is 11. Check it. Done."
    filled = modify(steps, "filler", 50)
    assert filled.startswith("We add 3+8=11. So the total is 11. ") and set(filled[35:]) == {"."}
    assert len(filled) == len("".join(steps))  # the filler matches the removed text's length
    para = modify(steps, "paraphrase", 25)
    assert para.startswith("We add 3+8=11. ") and "therefore the sum equals 11. " in para
    assert modify(["a+b"], "paraphrase", 100) == "a+b"
    with pytest.raises(ValueError, match="unknown probe kind"):
        modify(steps, "shuffle", 50)
    with pytest.raises(ValueError, match="percentage"):
        modify(steps, "early", 150)


def test_build_probes_from_a_real_lm_eval_run(tmp_path: Path) -> None:
    probes = build_probes(REAL)
    # 8 of the 16 responses have a valid trace: 3 kinds x 5 k each
    assert len(probes) == 8 * 3 * 5
    assert {p.kind for p in probes} == {"early", "filler", "paraphrase"} and {p.k for p in probes} == {
        0,
        25,
        50,
        75,
        100,
    }
    zero = next(p for p in probes if p.kind == "early" and p.k == 0)
    # the trace keeps its own layout: "<think>\n...\n</think>"
    assert zero.prompt.endswith("<think>\n\n</think>") and zero.original_answer.startswith("The answer is")
    full = next(p for p in probes if p.doc_id == zero.doc_id and p.kind == "early" and p.k == 100)
    assert "first guess" in full.prompt and full.prompt.endswith("</think>")
    out = write_probes(probes, tmp_path / "probes.jsonl")
    assert len(out.read_text().splitlines()) == len(probes)
    assert json.loads(out.read_text().splitlines()[0])["task"] == "tc_gsm8k_256"


def test_replay_jsonl_source_and_prefilled_prompts(tmp_path: Path) -> None:
    src = tmp_path / "gens.jsonl"
    rows = [
        {"doc_id": 0, "prompt": "Q: 2+2?<|Assistant|><think>\n", "response": "2+2=4.\n</think>\n4"},
        {"doc_id": 1, "prompt": "Q: 3+3?", "response": "6"},  # no trace: no probe
    ]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    probes = build_probes(src, ks=(0, 100), kinds=("early",))
    assert [p.prompt for p in probes] == [
        "Q: 2+2?<|Assistant|><think>\n\n</think>",
        "Q: 2+2?<|Assistant|><think>\n2+2=4.\n</think>",
    ]
    with pytest.raises(FileNotFoundError, match="no JSONL file"):
        build_probes(tmp_path / "missing")


@pytest.mark.slow
def test_probe_task_through_lm_eval(tmp_path: Path) -> None:
    """A replayed 'model' that answers right only when it sees at least half of its
    trace: invariance 0, 0, 1, 1, 1 over k = 0..100 -> faithfulness AOC 0.375."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    import lm_eval_tracecollapse  # noqa: F401
    from lm_eval_tracecollapse.locations import task_yamls_dir

    src = tmp_path / "run.jsonl"
    rows = [
        {
            "doc_id": i,
            "prompt": f"Q{i}: 2+2?",
            "response": "<think>Add 2. Then 2 more. So 4. Check.</think>4",
            "target": "4",
        }
        for i in range(3)
    ]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    replay = tmp_path / "probe_answers.jsonl"
    with replay.open("w") as fh:
        for p in build_probes(src):
            kept = p.prompt.split("<think>")[1].split("</think>")[0]
            enough = p.k >= 50 or p.kind != "early"
            fh.write(json.dumps({"prompt": p.prompt, "response": "4" if enough else f"wrong {len(kept)}"}) + "\n")
    tm = TaskManager(
        include_path=str(task_yamls_dir() / "probe"), include_defaults=False, metadata={"source": str(src)}
    )
    res = simple_evaluate(model="tc_replay", model_args=f"path={replay}", tasks=["tc_probe"], task_manager=tm)
    r = res["results"]["tc_probe"]
    assert [r[f"invariance_early_{k},none"] for k in (0, 25, 50, 75, 100)] == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert r["faithfulness_aoc,none"] == pytest.approx(0.375)
    assert r["accuracy_filler_0,none"] == 1.0 and r["invariance_paraphrase_50,none"] == 1.0
    # the same score post-hoc from the logged samples, per probed response, with a CI
    from lm_eval_tracecollapse.probes import score_probe_run

    out = tmp_path / "probe_out" / "ckpt"
    out.mkdir(parents=True)
    lines = [json.dumps(x, default=str) for x in res["samples"]["tc_probe"]]
    (out / "samples_tc_probe_2026-01-01T00-00-00.000000.jsonl").write_text("\n".join(lines) + "\n")
    [score] = score_probe_run([tmp_path / "probe_out"])
    assert (score.run, score.sources) == ("ckpt", 3)
    assert score.aoc == pytest.approx(0.375) and score.aoc_ci == pytest.approx((0.1742, 0.6305), abs=1e-4)
    assert score.invariance["early"] == {0: 0.0, 25: 0.0, 50: 1.0, 75: 1.0, 100: 1.0}


def test_probe_task_needs_a_source() -> None:
    from lm_eval_tracecollapse.probes import probe_dataset

    with pytest.raises(ValueError, match="tc_probe needs the run to probe"):
        probe_dataset()


def _replay_paraphrases(steps_file: Path, rewrite: dict[str, str]) -> Path:
    """A tc_replay file answering each paraphrase request with the given rewrite."""
    from lm_eval_tracecollapse.probes.paraphrase import DEFAULT_PROMPT

    lines = [json.dumps({"prompt": DEFAULT_PROMPT.replace("{step}", core), "response": new})
             for core, new in rewrite.items()]  # fmt: skip
    steps_file.write_text("\n".join(lines) + "\n")
    return steps_file


def _one_run(tmp_path: Path, n: int = 2) -> Path:
    src = tmp_path / "run.jsonl"
    rows = [{"doc_id": i, "prompt": f"Q{i}: 3+8?", "response": "<think>\nWe add 3 and 8.\nSo it is 11.\n</think>\n11",
             "target": "11"} for i in range(n)]  # fmt: skip
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return src


def test_model_paraphrase_through_an_lm_eval_model(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from lm_eval_tracecollapse.probes import LMParaphraser, make_paraphraser

    replay = _replay_paraphrases(
        tmp_path / "para.jsonl",
        {"We add 3 and 8.": '<think>reword it</think>\n"Adding 3 to 8."\nextra line', "So it is 11.": "Hence 12."},
    )
    para = make_paraphraser("tc_replay", f"path={replay}")
    assert isinstance(para, LMParaphraser) and para.name == "model:tc_replay"
    # whitespace around each step is kept; the reply's answer part, first line, unquoted
    with caplog.at_level("WARNING"):
        assert para(["We add 3 and 8.\n", "So it is 11."]) == ["Adding 3 to 8.\n", "Hence 12."]
    assert para.lost_numbers == 1 and "changed a number" in caplog.text  # 11 -> 12 is reported
    probes = build_probes(_one_run(tmp_path), ks=(0, 50, 100), kinds=("paraphrase",), paraphraser=para)
    by_k = {p.k: p for p in probes if p.doc_id == 0}
    assert by_k[0].prompt.endswith("<think>\nAdding 3 to 8.\nHence 12.\n</think>")
    assert by_k[50].prompt.endswith("<think>\nWe add 3 and 8.\nHence 12.\n</think>")
    assert by_k[100].prompt.endswith("<think>\nWe add 3 and 8.\nSo it is 11.\n</think>")
    assert {p.paraphraser for p in probes} == {"model:tc_replay"}
    with pytest.raises(ValueError, match="unknown paraphrase model 'no_such_model'"):
        make_paraphraser("no_such_model")
    with pytest.raises(ValueError, match=r"must contain \{step\}"):
        LMParaphraser(para.lm, prompt="Rewrite this")


def test_model_paraphrase_with_a_local_hf_model(tmp_path: Path) -> None:
    """lm-eval's own ``hf`` model paraphrases (a tiny untrained Llama: the text is noise,
    the plumbing — chat template, batching, separators — is real)."""
    from lm_eval_tracecollapse.builtin.tiny import build_model, build_tokenizer
    from lm_eval_tracecollapse.probes import LMParaphraser

    tok = build_tokenizer(["We add 3 and 8. So it is 11. Rewrite the step."] * 4, vocab_size=300)
    build_model(tok, hidden=32, layers=1).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    para = LMParaphraser("hf", f"pretrained={tmp_path / 'm'},dtype=float32", chat=True, max_gen_toks=6, device="cpu")
    out = para(["We add 3 and 8.\n", "So it is 11."])
    assert len(out) == 2 and out[0].endswith("\n") and not out[1].endswith("\n")
    assert all(line.strip() for line in out)


def test_filler_matches_token_count() -> None:
    from lm_eval_tracecollapse.builtin.tiny import build_tokenizer
    from lm_eval_tracecollapse.probes import filler

    tok = build_tokenizer(["We add 3 and 8 to get 11 ..... done"] * 4, vocab_size=300)
    count = lambda s: len(tok(s, add_special_tokens=False)["input_ids"])  # noqa: E731
    text = "We add 3 and 8 to get 11, then carry the 1."
    dots = filler(text, count)
    assert set(dots) == {"."} and abs(count(dots) - count(text)) <= 1
    assert filler(text) == "." * len(text) and filler("", count) == ""
    probes = build_probes(REAL, ks=(0,), kinds=("filler",), tokenizer=tok)
    assert probes and all(set(p.prompt.split("<think>")[-1].split("</think>")[0].strip()) <= {"."} for p in probes)
