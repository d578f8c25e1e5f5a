"""Summarise the vLLM fixtures against the ``hf`` reference (``tests/fixtures/engines/``).

Per checkpoint x parser: which message keys vLLM sent, how many replies had the reasoning
field non-empty / empty / null, ``content`` non-empty / empty / null, the
``finish_reason`` values, how many replies equal the split a ``<think>``-parser makes of
the ``hf`` text of the same document, and three representative raw choices; with the
generated ``token_ids`` (``"return_token_ids": true``) and the server's ``/tokenize`` of
``<think>``/``</think>`` (``<checkpoint>__<parser>.tokenize.json``): how many replies hold
each tag's id, against how many opened/closed the trace by their text (the no-parser
capture's content of the same document, else the ``hf`` text), and whether the ids are the
same as the no-parser capture's.  Per
checkpoint for lm-eval's offline ``vllm`` model: texts equal to ``hf``'s, and the
per-document status confusion against ``hf``.  Markdown on stdout (``--write`` also
writes it to ``tests/fixtures/engines/vllm/summary.md``)::

    .venv/bin/python tests/engines/summarize_vllm.py --write

Example:
    >>> think_split("<think>\\n3+8=11\\n</think>\\nThe answer is 11.")
    ('\\n3+8=11\\n', '\\nThe answer is 11.')
    >>> think_split("The answer is 8."), think_split("<think></think>The answer is 8.")
    (('The answer is 8.', None), ('', 'The answer is 8.'))
    >>> state(None), state(""), state("x")
    ('null', 'empty', 'text')
    >>> tag_ids({"calls": [{"request": {"prompt": "<think>"}, "response": {"tokens": [280]}}]})
    {'<think>': 280}
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "engines"
CHECKPOINTS = ("base", "sft_answer_only", "sft_empty_think", "mask_empty_think", "mask_real_trace")
PARSERS = ("deepseek_r1", "qwen3", "none")
STATUSES = ("valid", "empty", "missing", "truncated")
REASONING_KEYS = ("reasoning", "reasoning_content")


def think_split(text: str, start: str = "<think>", end: str = "</think>") -> tuple[str, str | None]:
    """vLLM's ``BaseThinkingReasoningParser.extract_reasoning`` (deepseek_r1) on ``text``:
    drop up to the first open tag; no close tag: all reasoning, content null; else
    (before, after), an empty after being null."""
    head, sep, tail = text.partition(start)
    rest = tail if sep else head
    if end not in rest:
        return rest, None
    reasoning, _, content = rest.partition(end)
    return reasoning, content or None


def state(value: Any, absent: bool = False) -> str:
    if absent:
        return "absent"
    if value is None:
        return "null"
    return "empty" if value == "" else "text"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def hf_samples(checkpoint: str, root: Path = FIXTURES) -> dict[int, dict[str, Any]]:
    return {row["doc_id"]: row for row in read_jsonl(root / "hf" / checkpoint / "samples_tc_demo_easy.jsonl")}


def status_of(sample: dict[str, Any]) -> str:
    hits = [s for s in STATUSES if sample.get(f"{s}_rate") == 1.0]
    return hits[0] if len(hits) == 1 else "?"


def _fmt_counter(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def server_section(checkpoint: str, parser: str, root: Path = FIXTURES) -> list[str]:
    path = root / "vllm" / f"{checkpoint}__{parser}.jsonl"
    if not path.is_file():
        return [f"#### {checkpoint} x {parser}: no fixture ({path.name})", ""]
    rows = read_jsonl(path)
    hf = hf_samples(checkpoint, root)
    keys: Counter[str] = Counter()
    reasoning: Counter[str] = Counter()
    content: Counter[str] = Counter()
    finish: Counter[str] = Counter()
    shapes: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    agree_split = agree_text = 0
    mismatches = []
    for row in rows:
        msg = row["choice"].get("message") or {}
        keys.update(k for k in row.get("message_keys", msg) if k in (*REASONING_KEYS, "content"))
        rkey = next((k for k in REASONING_KEYS if k in msg), None)
        r = msg.get(rkey) if rkey else None
        rs, cs = state(r, absent=rkey is None), state(msg.get("content"))
        fr = str(row["choice"].get("finish_reason"))
        reasoning[rs] += 1
        content[cs] += 1
        finish[fr] += 1
        shapes.setdefault((rs, cs, fr), []).append(row)
        text = hf[row["doc_id"]]["resps"][0][0]
        if parser == "none":
            ok = rkey is None or r is None
            ok = ok and msg.get("content") == text
            agree_text += ok
        else:
            ok = (r, msg.get("content")) == think_split(text)
            agree_split += ok
        if not ok:
            mismatches.append((row, text))
    n = len(rows)
    out = [f"#### {checkpoint} x {parser} ({n} replies)", ""]
    out.append(f"- message keys sent (text fields): {_fmt_counter(keys)}")
    out.append(f"- reasoning field: {_fmt_counter(reasoning)}")
    out.append(f"- content: {_fmt_counter(content)}")
    out.append(f"- finish_reason: {_fmt_counter(finish)}")
    by_shape = []
    for (rs, cs, fr), rows_ in sorted(shapes.items(), key=lambda kv: -len(kv[1])):
        tokens = Counter(_reasoning_tokens(r) for r in rows_)
        by_shape.append(
            f"reasoning {rs} + content {cs} + {fr}: {len(rows_)} (usage reasoning_tokens: {_fmt_counter(tokens)})"
        )
    out.append("- shapes: " + "; ".join(by_shape))
    if parser == "none":
        out.append(f"- content equal to the hf text of the same doc: {agree_text}/{n}")
    else:
        out.append(f"- (reasoning, content) equal to the `<think>` split of the hf text: {agree_split}/{n}")
    out += token_id_lines(checkpoint, parser, rows, root)
    shown = [rows_[0] for _, rows_ in sorted(shapes.items(), key=lambda kv: -len(kv[1]))][:3]
    for row in rows:
        if len(shown) >= 3:
            break
        if row not in shown:
            shown.append(row)
    out.append("- representative raw choices (doc_id: hf text -> choice):")
    for row in shown:
        text = hf[row["doc_id"]]["resps"][0][0]
        out.append(f"  - {row['doc_id']}: `{json.dumps(text)}` -> `{json.dumps(row['choice'])}`")
    for row, text in mismatches[:3]:
        out.append(f"  - differs, doc {row['doc_id']}: hf `{json.dumps(text)}` -> `{json.dumps(row['choice'])}`")
    return [*out, ""]


def tag_ids(tokenized: dict[str, Any]) -> dict[str, int]:
    """The tags that ``/tokenize`` answered with exactly one id: {tag: id}."""
    out = {}
    for call in tokenized.get("calls", []):
        tokens = (call.get("response") or {}).get("tokens") or []
        if len(tokens) == 1:
            out[call["request"]["prompt"]] = int(tokens[0])
    return out


def token_id_lines(checkpoint: str, parser: str, rows: list[dict[str, Any]], root: Path = FIXTURES) -> list[str]:
    """What the generated ids say about the tags, against the text (see the module's docstring)."""
    if not any("token_ids" in row["choice"] for row in rows):
        return ["- token ids: not recorded"]
    tok_path = root / "vllm" / f"{checkpoint}__{parser}.tokenize.json"
    if not tok_path.is_file():
        return [f"- token ids: recorded, but no {tok_path.name}"]
    tokenized = json.loads(tok_path.read_text())
    answers = ", ".join(
        f"`{c['request']['prompt']}` -> {json.dumps(c['response'].get('tokens'))}" for c in tokenized["calls"]
    )
    ids = tag_ids(tokenized)
    plain_path = root / "vllm" / f"{checkpoint}__none.jsonl"
    plain = {r["doc_id"]: r for r in read_jsonl(plain_path)} if plain_path.is_file() else {}
    hf = hf_samples(checkpoint, root)
    ref = "no-parser content" if plain else "hf text"

    def text_of(doc_id: int) -> str:
        if plain:
            return plain[doc_id]["choice"]["message"].get("content") or ""
        return str(hf[doc_id]["resps"][0][0])

    out = [f"- /tokenize (add_special_tokens false): {answers}"]
    for tag, tid in ids.items():
        with_id = [r for r in rows if tid in (r["choice"].get("token_ids") or [])]
        by_text = [r for r in rows if tag in text_of(r["doc_id"])]
        same = sum((tid in (r["choice"].get("token_ids") or [])) == (tag in text_of(r["doc_id"])) for r in rows)
        where = Counter(str(r["choice"]["token_ids"].index(tid)) for r in with_id)
        out.append(
            f"- token_ids holding `{tag}` ({tid}): {len(with_id)}; `{tag}` in the {ref}: {len(by_text)}; "
            f"agree per reply: {same}/{len(rows)}; at index: {_fmt_counter(where) or '-'}"
        )
    if plain and parser != "none":
        same_ids = sum(r["choice"].get("token_ids") == plain[r["doc_id"]]["choice"].get("token_ids") for r in rows)
        out.append(f"- token_ids equal to the no-parser capture's: {same_ids}/{len(rows)}")
    last = Counter(str((r["choice"].get("token_ids") or [None])[-1]) for r in rows)
    out.append(f"- last generated id: {_fmt_counter(last)}")
    return out


def _reasoning_tokens(row: dict[str, Any]) -> str:
    details = (row.get("usage") or {}).get("completion_tokens_details") or {}
    n = details.get("reasoning_tokens")
    return "n/a" if n is None else ("0" if n == 0 else ">0")


def offline_section(checkpoint: str, root: Path = FIXTURES) -> list[str]:
    path = root / "vllm" / "offline" / checkpoint / "samples_tc_demo_easy.jsonl"
    if not path.is_file():
        return [f"#### offline vllm, {checkpoint}: no fixture", ""]
    hf = hf_samples(checkpoint, root)
    rows = read_jsonl(path)
    same_text = sum(r["resps"][0][0] == hf[r["doc_id"]]["resps"][0][0] for r in rows)
    same_em = sum(r.get("exact_match") == hf[r["doc_id"]].get("exact_match") for r in rows)
    confusion: Counter[tuple[str, str]] = Counter((status_of(hf[r["doc_id"]]), status_of(r)) for r in rows)
    out = [f"#### offline vllm, {checkpoint} ({len(rows)} docs)", ""]
    out.append(f"- text equal to hf's: {same_text}/{len(rows)}; exact_match equal: {same_em}/{len(rows)}")
    out.append(
        f"- status (hf -> offline vllm): {', '.join(f'{a}->{b} {n}' for (a, b), n in sorted(confusion.items()))}"
    )
    res = json.loads((path.parent / "results.json").read_text())["results"].get("tc_demo_easy", {})
    hf_res = json.loads((root / "hf" / checkpoint / "results.json").read_text())["results"].get("tc_demo_easy", {})
    cells = []
    for name in ("valid_rate", "empty_rate", "missing_rate", "truncated_rate", "pass@1", "rpass@1"):
        a, b = hf_res.get(f"{name},answer"), res.get(f"{name},answer")
        cells.append(f"{name} {_num(a)} / {_num(b)}")
    out.append("- hf / offline vllm: " + "; ".join(cells))
    for r in rows:
        text = hf[r["doc_id"]]["resps"][0][0]
        if r["resps"][0][0] != text:
            out.append(f"  - first differing text, doc {r['doc_id']}: hf `{json.dumps(text)}`")
            out.append(f"    vllm `{json.dumps(r['resps'][0][0])}`")
            break
    return [*out, ""]


def _num(value: Any) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "N/A"
    return f"{value:.2f}" if isinstance(value, (int, float)) else str(value)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=FIXTURES)
    ap.add_argument("--write", action="store_true", help="also write vllm/summary.md")
    args = ap.parse_args(argv)
    lines = ["# vLLM 0.32.0 (CPU) on the demo's checkpoints, tc_demo_easy, against hf", ""]
    lines += ["Written by `tests/engines/summarize_vllm.py` from the fixtures beside it.", ""]
    lines += ["## Server: /v1/chat/completions per reasoning parser", ""]
    for checkpoint in CHECKPOINTS:
        for parser in PARSERS:
            lines += server_section(checkpoint, parser, args.root)
    lines += ["## lm-eval's offline vllm model", ""]
    for checkpoint in CHECKPOINTS:
        lines += offline_section(checkpoint, args.root)
    text = "\n".join(lines)
    sys.stdout.write(text)
    if args.write:
        (args.root / "vllm" / "summary.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
