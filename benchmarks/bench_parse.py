"""Parser throughput against ThinkPack 1.0.0 and a bare ``str.find`` scan, in one run.

Usage::

    .venv/bin/python benchmarks/bench_parse.py [--n 100000] [--repeat 3] [--seed 0]

The corpus is generated deterministically: ``--n`` responses with lengths spread
log-uniformly over 10 characters to 50 kB, mixed statuses (valid, empty, missing,
truncated, prefilled-valid) and delimiter families (70 % ``<think>``), text that is
70 % worded reasoning, 20 % math, 10 % code (so ``<``, which starts most delimiters,
occurs at realistic rates: measured and printed), plus
adversarial inputs at 1 MB and 10 MB.  Every throughput is the best of ``--repeat``
timings, and the three parsers are timed interleaved so machine noise hits them alike.

Printed: responses/s and MB/s for

* ``str.find`` — for each response, ``find(open)`` and ``find(close)`` of its own
  family: the practical lower bound for any parser;
* ours — ``parse_traces(..., fmt="think")`` on the ``<think>`` subset, and
  ``parse_traces(...)`` (``fmt="auto"``, all families) on the whole corpus;
* ThinkPack — ``thinkpack.parse(responses, model_info=ModelInfo(prefixed=False))`` on
  the ``<think>`` subset (ThinkPack parses one tag family per call);

then the ratios, and seconds per adversarial input at 1 MB and 10 MB (linear
scaling means the 10 MB time is about 10x the 1 MB time).
"""

from __future__ import annotations

import gc
import math
import random
import time
from collections.abc import Callable

from _common import bench_args
from bench_report import response

from lm_eval_tracecollapse import parse_trace, parse_traces

FAMILIES = [  # (name, open, close, weight)
    ("think", "<think>", "</think>", 70),
    ("think_bracket", "[THINK]", "[/THINK]", 5),
    ("thinking", "<thinking>", "</thinking>", 4),
    ("gpt_oss", "<|channel|>analysis<|message|>", "<|end|>", 5),
    ("seed_oss", "<seed:think>", "</seed:think>", 4),
    ("kimi", "◁think▷", "◁/think▷", 4),
    ("command_a", "<|START_THINKING|>", "<|END_THINKING|>", 4),
    ("granite", "Here is my thought process:", "Here is my response:", 4),
]
STATUSES = [("valid", 50), ("prefilled", 10), ("empty", 10), ("missing", 15), ("truncated", 15)]

#: three kinds of text, so '<' (the first character of most delimiters) occurs at
#: realistic rates: almost never in worded reasoning, sometimes in math, often in code
DOMAINS = [("prose", 70), ("math", 20), ("code", 10)]
PROSE = (
    "so the total is the sum of both parts and we need to check the units first then "
    "Let me think about this step by step the question asks how many apples remain after "
    "she gives away half of them which means we divide by two and subtract Wait that is "
    "not right let me recompute carefully because the second term was counted twice "
).split()
MATH = "x = 12 * 7 = 84 , 84 + 6 = 90 , if a < b then b - a > 0 and \\frac{3}{4} \\cdot 120 = 90 ;".split()
CODE = "def f(xs): return [x for x in xs if x < 10] # List<int> a = new ArrayList<>(); while i < n: i += 1".split()


def _base_text(rng: random.Random, n_words: int, domain: str) -> str:
    """Prose with ~1 % math words, math with 40 %, code with 50 % code words."""
    mix = {"prose": (0.99, 1.0), "math": (0.6, 1.0), "code": (0.3, 0.5)}[domain]
    words = []
    for _ in range(n_words):
        r = rng.random()
        pool = PROSE if r < mix[0] else MATH if r < mix[1] else CODE
        words.append(rng.choice(pool))
    return " ".join(words)


def make_corpus(n: int, seed: int) -> list[tuple[str, str, str, str]]:
    """``n`` (family, open, close, response) tuples, deterministic for a seed."""
    rng = random.Random(seed)
    bases = {d: _base_text(rng, 400_000, d) for d, _ in DOMAINS}
    dom_names, dom_w = zip(*DOMAINS, strict=True)
    fam_w = [w for *_, w in FAMILIES]
    st_names, st_w = zip(*STATUSES, strict=True)
    corpus = []
    for _ in range(n):
        name, op, cl, _w = rng.choices(FAMILIES, fam_w)[0]
        status = rng.choices(st_names, st_w)[0]
        base = bases[rng.choices(dom_names, dom_w)[0]]
        length = int(math.exp(rng.uniform(math.log(10), math.log(50_000))))
        start = rng.randrange(0, len(base) - length)
        body = base[start : start + length]
        cut = max(1, int(len(body) * 0.9))
        reasoning, answer = body[:cut], " The answer is 90." + body[cut : cut + 40]
        if status == "valid":
            text = f"{op}\n{reasoning}\n{cl}\n\n{answer}"
        elif status == "prefilled" and name != "gpt_oss" and name != "granite":
            text = f"{reasoning}\n{cl}\n\n{answer}"
        elif status == "empty":
            text = f"{op}\n\n{cl}\n\n{body}"
        elif status == "truncated":
            text = f"{op}\n{body}"
        else:
            text = body
        corpus.append((name, op, cl, text))
    return corpus


def best_of(fn: Callable[[], object], repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _row(label: str, n: int, nbytes: int, seconds: float) -> str:
    return f"  {label:<44} {n / seconds:>12,.0f} resp/s {nbytes / seconds / 1e6:>9,.0f} MB/s"


def adversarial_inputs(size: int) -> dict[str, str]:
    return {
        '"<think>" * k': "<think>" * (size // 7),
        '"<" * k': "<" * size,
        '"</think>" * k': "</think>" * (size // 8),
        '"<think>x</think>" + "</think>" * k': "<think>x" + "</think>" * (size // 8),
        '"[THINK" * k': "[THINK" * (size // 6),
        '"<|" * k': "<|" * (size // 2),
        '"<t" * k': "<t" * (size // 2),
        '"[" * k': "[" * size,
        '"a" * k (no delimiter)': "a" * size,
    }


def main() -> None:
    args = bench_args(__doc__, 100_000)

    try:
        from thinkpack import parse as tp_parse
        from thinkpack.model import ModelInfo
    except ImportError:  # pragma: no cover - the test extra installs it
        tp_parse = None
        print("ThinkPack is not installed: pip install thinkpack==1.0.0 (its column is skipped)")

    corpus = make_corpus(args.n, args.seed)
    texts = [c[3] for c in corpus]
    think = [c[3] for c in corpus if c[0] == "think"]
    all_bytes = sum(map(len, texts))
    think_bytes = sum(map(len, think))
    pairs = [(c[1], c[2], c[3]) for c in corpus]
    lt = sum(t.count("<") for t in texts) / all_bytes
    print(
        f"corpus: {len(texts):,} responses, {all_bytes / 1e6:,.0f} MB, one '<' per {1 / lt:,.0f} chars "
        f"({len(think):,} <think>-family responses, {think_bytes / 1e6:,.0f} MB); best of {args.repeat}"
    )

    rng = random.Random(args.seed)
    dense = [response(rng)[3] for _ in range(max(1, args.n // 50))]  # bench_report's math/code/HTML traces
    dense_bytes = sum(map(len, dense))
    lt_dense = sum(t.count("<") for t in dense) / dense_bytes
    print(f"dense corpus (bench_report's): {len(dense):,} responses, {dense_bytes / 1e6:,.0f} MB, "
          f"one '<' per {1 / lt_dense:,.0f} chars")  # fmt: skip

    timings: dict[str, float] = {}
    jobs: dict[str, Callable[[], object]] = {
        "find_think": lambda: [(t.find("<think>"), t.find("</think>")) for t in think],
        "ours_think": lambda: parse_traces(think, fmt="think"),
        "find_all": lambda: [(t.find(o), t.find(c)) for o, c, t in pairs],
        "ours_auto": lambda: parse_traces(texts),
        "ours_auto_one": lambda: [parse_trace(t) for t in texts],
        "find_dense": lambda: [(t.find("<think>"), t.find("</think>")) for t in dense],
        "ours_dense_one": lambda: [parse_trace(t) for t in dense],
    }
    if tp_parse is not None:
        info = ModelInfo(prefixed=False)
        jobs["thinkpack_think"] = lambda: tp_parse(think, model_info=info)
    for _ in range(args.repeat):  # interleaved, so noise hits every parser alike
        for key, job in jobs.items():
            timings[key] = min(timings.get(key, math.inf), best_of(job, 1))

    print("\n<think> family (the paper's format):")
    print(_row("str.find(open) + str.find(close)  [bound]", len(think), think_bytes, timings["find_think"]))
    print(_row("lm_eval_tracecollapse parse_traces(fmt='think')", len(think), think_bytes, timings["ours_think"]))
    if "thinkpack_think" in timings:
        print(_row("ThinkPack 1.0.0 parse", len(think), think_bytes, timings["thinkpack_think"]))
    print("\nall families (fmt='auto'):")
    print(_row("str.find(open) + str.find(close)  [bound]", len(texts), all_bytes, timings["find_all"]))
    print(_row("lm_eval_tracecollapse parse_traces(fmt='auto')", len(texts), all_bytes, timings["ours_auto"]))
    print(_row("lm_eval_tracecollapse parse_trace, one call each", len(texts), all_bytes, timings["ours_auto_one"]))
    print("\ndense corpus (fmt='auto', one call each):")
    print(_row("str.find(open) + str.find(close)  [bound]", len(dense), dense_bytes, timings["find_dense"]))
    print(_row("lm_eval_tracecollapse parse_trace", len(dense), dense_bytes, timings["ours_dense_one"]))

    print("\nratios (higher = ours faster):")
    if "thinkpack_think" in timings:
        print(f"  ours / ThinkPack, <think> family:       {timings['thinkpack_think'] / timings['ours_think']:6.2f}x")
    print(f"  ours / str.find bound, <think> family:  {timings['find_think'] / timings['ours_think']:6.2f}x")
    print(f"  ours / str.find bound, all (auto):      {timings['find_all'] / timings['ours_auto']:6.2f}x")
    print("time / str.find bound, one call at a time (target <= 1.5x):")
    print(f"  mixed corpus (auto):                    {timings['ours_auto_one'] / timings['find_all']:6.2f}x")
    print(f"  dense corpus (auto):                    {timings['ours_dense_one'] / timings['find_dense']:6.2f}x")

    print("\nadversarial inputs (seconds; linear scaling => 10 MB ~ 10x 1 MB):")
    print(f"  {'input':<38} {'think 1MB':>9} {'think 10MB':>10} {'x':>5} {'auto 10MB':>9} {'ThinkPack 10MB':>14}"
          f" {'auto / scan':>11}")  # fmt: skip
    worst = (0.0, "")
    small, large = adversarial_inputs(1_000_000), adversarial_inputs(10_000_000)
    info = ModelInfo(prefixed=False) if tp_parse is not None else None
    for label in small:
        t1 = best_of(lambda s=small[label]: parse_trace(s, fmt="think"), args.repeat)
        t10 = best_of(lambda s=large[label]: parse_trace(s, fmt="think"), args.repeat)
        auto10 = best_of(lambda s=large[label]: parse_trace(s), args.repeat)
        tp = (
            f"{best_of(lambda s=large[label]: tp_parse(s, model_info=info), args.repeat):14.4f}"
            if tp_parse is not None
            else f"{'-':>14}"
        )
        # its str.find scan: both markers searched through the whole text (patterns it never holds)
        scan = best_of(lambda s=large[label]: (s.find("<think>\0"), s.find("</think>\0")), args.repeat)
        worst = max(worst, (auto10 / scan, label))
        print(f"  {label:<38} {t1:9.4f} {t10:10.4f} {t10 / t1:5.1f} {auto10:9.4f} {tp} {auto10 / scan:10.0f}x")
    print(f"worst adversarial input, fmt='auto' / its str.find scan: {worst[0]:.0f}x ({worst[1]}; target <= 20x)")


if __name__ == "__main__":
    main()
