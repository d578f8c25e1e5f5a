"""Paraphrasers for the ``paraphrase`` probe: a step-by-step rewrite of a trace.

* :class:`RuleParaphraser` (the default, no model): synonyms and reordered sums.  It
  changes wording only superficially, so it is a *weaker* probe than a model's paraphrase.
* :class:`LMParaphraser`: any lm-eval model (``hf``, ``vllm``, ``local-chat-completions``,
  ``tc_replay``…) rewrites each step, greedily, one request per distinct step, all in one
  ``generate_until`` batch.

A paraphraser maps a list of steps to a list of rewrites of the same length; each rewrite
keeps its step's surrounding whitespace (the separators), so joined steps keep the trace's
layout.

Example:
    >>> RuleParaphraser()(["So the total is 11.\\n", "3 + 8 = 11"])
    ['therefore the sum equals 11.\\n', '8+3 = 11']
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["DEFAULT_PROMPT", "LMParaphraser", "Paraphraser", "RuleParaphraser", "make_paraphraser"]

log = logging.getLogger(__name__)

DEFAULT_PROMPT = (
    "Rewrite the following reasoning step in different words. Keep every number, symbol and fact "
    "exactly; reply with the rewritten step only, on one line.\n\nStep: {step}\nRewritten step:"
)
_SYNONYMS = {
    "so": "therefore", "then": "next", "total": "sum", "add": "sum up", "get": "obtain", "is": "equals",
    "first": "to begin", "because": "since", "we": "one", "check": "verify", "answer": "result",
}  # fmt: skip
_SUM = re.compile(r"\b(\d+)\s*\+\s*(\d+)\b")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class Paraphraser(Protocol):
    """Anything that rewrites steps: ``name`` (recorded in every probe) and a call."""

    name: str

    def __call__(self, steps: Sequence[str]) -> list[str]: ...


def split_whitespace(text: str) -> tuple[str, str, str]:
    """(leading whitespace, text, trailing whitespace); all-blank text is all leading.

    >>> split_whitespace("  a b ")
    ('  ', 'a b', ' ')
    """
    core = text.strip()
    if not core:
        return text, "", ""
    start = text.index(core)
    return text[:start], core, text[start + len(core) :]


class RuleParaphraser:
    """Deterministic rewrite: common words swapped for synonyms, ``a + b`` → ``b+a``."""

    name = "rules"

    def __call__(self, steps: Sequence[str]) -> list[str]:
        out = []
        for step in steps:
            words = [_SYNONYMS.get(w.lower(), w) for w in step.split(" ")]
            out.append(_SUM.sub(lambda m: f"{m.group(2)}+{m.group(1)}", " ".join(words)))
        return out


class LMParaphraser:
    """Rewrite steps with an lm-eval model.

    ``model`` is an lm-eval model name (``"hf"``, ``"vllm"``…) with ``model_args`` as on
    lm-eval's command line, or an already built ``lm_eval.api.model.LM``.  ``prompt`` must
    contain ``{step}``; ``chat=True`` renders it through the model's chat template.  The
    reply's answer part (after a reasoning trace, if the paraphraser writes one) is used,
    its first non-blank line.  A blank reply keeps the original step (counted and logged,
    with the number of rewrites that lost a number of their step).

    Example::

        para = LMParaphraser("hf", "pretrained=Qwen/Qwen3-0.6B", chat=True)
        para(["We add 3 and 8.\\n"])   # -> ['We sum 3 with 8.\\n']
    """

    def __init__(
        self,
        model: Any,
        model_args: str = "",
        *,
        prompt: str = DEFAULT_PROMPT,
        chat: bool = False,
        max_gen_toks: int = 256,
        batch_size: int | str | None = None,
        device: str | None = None,
    ) -> None:
        if "{step}" not in prompt:
            raise ValueError(f"paraphrase prompt must contain {{step}}, got {prompt!r}")
        if isinstance(model, str):
            from ..harness.run import load_model

            try:
                self.lm = load_model(model, model_args, batch_size, device)
            except ValueError as exc:
                raise ValueError(f"unknown paraphrase model {model!r}: {exc}") from None
            self.name = f"model:{model}"
        else:
            self.name = f"model:{type(model).__name__}"
            self.lm = model
        self.prompt, self.chat, self.max_gen_toks = prompt, chat, int(max_gen_toks)
        self.kept_original = self.lost_numbers = 0

    def _request(self, core: str, i: int) -> Any:
        from ..harness.run import generation_request

        text = self.prompt.replace("{step}", core)
        if self.chat:
            text = self.lm.apply_chat_template([{"role": "user", "content": text}])
        # a chat model may reason first, so only a non-chat prompt stops at the line end
        until = [] if self.chat else ["\n"]
        gen = {"until": until, "max_gen_toks": self.max_gen_toks, "do_sample": False}
        return generation_request(text, gen, {"step": core}, ("tc_paraphrase", i, 1))

    def __call__(self, steps: Sequence[str]) -> list[str]:
        from ..core.parse import parse_trace

        parts = [split_whitespace(s) for s in steps]
        cores = list(dict.fromkeys(core for _, core, _ in parts if core))
        replies = self.lm.generate_until([self._request(c, i) for i, c in enumerate(cores)]) if cores else []
        rewritten: dict[str, str] = {}
        for core, reply in zip(cores, replies, strict=True):
            answer = parse_trace(str(reply)).answer
            line = next((ln.strip().strip('"') for ln in answer.splitlines() if ln.strip().strip('"')), "")
            if not line:
                self.kept_original += 1
                line = core
            elif not set(_NUMBER.findall(core)) <= set(_NUMBER.findall(line)):
                self.lost_numbers += 1
            rewritten[core] = line
        if self.kept_original or self.lost_numbers:
            log.warning(
                "paraphrase by %s: %d of %d steps got a blank rewrite (kept as written); %d rewrites dropped or "
                "changed a number of their step",
                self.name, self.kept_original, len(cores), self.lost_numbers,
            )  # fmt: skip
        return [lead + rewritten[core] + trail if core else lead for lead, core, trail in parts]


def make_paraphraser(model: str | None = None, model_args: str = "", chat: bool = False, **options: Any) -> Paraphraser:
    """The rule-based paraphraser, or an :class:`LMParaphraser` when ``model`` is given.

    >>> make_paraphraser().name
    'rules'
    """
    if not model:
        if model_args or chat or options:
            raise ValueError("paraphrase options were given without paraphrase_model (the lm-eval model name)")
        return RuleParaphraser()
    return LMParaphraser(model, model_args, chat=chat, **options)
