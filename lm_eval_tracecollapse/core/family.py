"""What a reasoning-delimiter family is: :class:`ReasoningFormat`.

The built-in families are in :mod:`.families` (and :mod:`.families_serving`); the
registry API is :mod:`.formats`.

Example:
    >>> f = ReasoningFormat("mine", open="<scratch>", close="</scratch>")
    >>> (f.name, f.case_sensitive, f.bare_close)
    ('mine', False, True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["ReasoningFormat"]


@dataclass(frozen=True)
class ReasoningFormat:
    """One delimiter family.

    Attributes:
        name: registry key, used as ``fmt=`` and reported as ``Trace.fmt``.
        open: opening delimiter, e.g. ``"<think>"``.
        close: closing delimiter, e.g. ``"</think>"``.
        case_sensitive: tags (``<think>``) match in any case, as in ThinkPack;
            plain-text markers (Granite) are matched exactly.
        bare_close: a closing delimiter with no opening one before it still ends a
            trace (the template prefilled the open tag but the prompt was not passed).
            False for families whose closing marker is too generic (gpt-oss ``<|end|>``).
        implicit_closes: markers that end an *unclosed* trace, e.g. Qwen3's
            ``<tool_call>``; the marker and what follows it are the answer.
        answer_start: regex; when it matches at the start of the text after the trace
            (anywhere in it with ``answer_start_search``), the answer is what follows
            the match (gpt-oss ``final`` channel header, Hunyuan ``<answer>``).
        answer_start_search: look for ``answer_start`` anywhere in the answer, not
            only at its start (gpt-oss, whose final channel may follow other messages).
        answer_end: literal suffixes removed from the end of the answer.
        auto: take part in ``fmt="auto"``.  Families that are only safe when asked
            for by name (``gpt_oss_text``) set this to False.
        refines: name of a family with the same delimiters that this one specialises;
            ``fmt="auto"`` reports the refinement when its ``answer_start`` is found.
        template_markers: strings whose joint presence in a chat template identifies
            the family for :func:`~lm_eval_tracecollapse.core.detect.detect_format` when
            its delimiters are not written out literally (gpt-oss builds its channel
            headers from pieces; Hunyuan's template never mentions ``<answer>``).
        decoded_form: regex for what a response looks like when the family's markers are
            special tokens and were dropped at decoding (``skip_special_tokens=True``, as
            lm-eval's ``hf`` model decodes): the trace filter then names the family and
            the fix instead of reporting every response as missing.
        models: model families known to use it (documentation only).
        source: where its behaviour was transcribed from (documentation only).

    Example:
        >>> f = ReasoningFormat("mine", open="<scratch>", close="</scratch>")
        >>> f.open, f.close
        ('<scratch>', '</scratch>')
    """

    name: str
    open: str
    close: str
    case_sensitive: bool = False
    bare_close: bool = True
    implicit_closes: tuple[str, ...] = ()
    answer_start: str | None = None
    answer_start_search: bool = False
    answer_end: tuple[str, ...] = ()
    auto: bool = True
    refines: str | None = None
    template_markers: tuple[str, ...] = ()
    decoded_form: str | None = None
    models: tuple[str, ...] = field(default=(), compare=False)
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
            raise ValueError(
                f"format name {self.name!r} must be a non-empty string of letters, digits, '_', '.' or '-'"
            )
        for attr in ("open", "close"):
            value = getattr(self, attr)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"format {self.name!r}: {attr} delimiter must be a non-blank string")
        if self.open == self.close:
            raise ValueError(f"format {self.name!r}: open and close delimiters must differ")
        for pattern in (self.answer_start, self.decoded_form):
            if pattern is not None:
                re.compile(pattern)
