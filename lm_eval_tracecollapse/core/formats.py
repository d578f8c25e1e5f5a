"""Reasoning-delimiter families: the registry behind ``fmt=`` everywhere.

A *family* (:class:`ReasoningFormat`) says how a model marks its reasoning trace:
an opening delimiter, a closing delimiter, and a few rarer properties (markers that
end a trace implicitly, wrappers around the answer).  Every family that a model
serving stack (vLLM, SGLang) or ThinkPack knows is built in; users add their own
with :func:`register_format` without waiting for a release.

Example:
    >>> from lm_eval_tracecollapse.core.formats import get_format, list_formats
    >>> "think" in list_formats()
    True
    >>> get_format("kimi").close
    '◁/think▷'
"""

from __future__ import annotations

import threading

__all__ = [
    "ReasoningFormat",
    "adopt_formats",
    "decoded_family",
    "get_format",
    "list_formats",
    "register_format",
    "unregister_format",
    "user_formats",
]


from .families import BUILTINS as _BUILTINS
from .families import ReasoningFormat

_lock = threading.Lock()
_registry: dict[str, ReasoningFormat] = {f.name: f for f in _BUILTINS}
_BUILTIN_NAMES = frozenset(_registry)
#: bumped on every change so compiled matchers know to rebuild
_generation = 0


def registry_generation() -> int:
    """A counter that changes whenever the registry changes (for caches)."""
    return _generation


def list_formats() -> list[str]:
    """Names of all registered families, built-in first, in registration order.

    Example:
        >>> list_formats()[:2]
        ['think', 'hunyuan']
    """
    return list(_registry)


def get_format(name: str) -> ReasoningFormat:
    """Return the family called ``name``.

    Raises:
        ValueError: unknown name; the message lists every known family.

    Example:
        >>> get_format("think_bracket").open
        '[THINK]'
    """
    if isinstance(name, ReasoningFormat):
        return name
    try:
        return _registry[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown reasoning format {name!r}; use 'auto' or one of: {', '.join(_registry)}"
            " (or add yours with register_format)"
        ) from None


def all_formats() -> tuple[ReasoningFormat, ...]:
    """Every registered family, in registration order."""
    return tuple(_registry.values())


def decoded_family(texts: list[str]) -> ReasoningFormat | None:
    """The family whose special-token markers were dropped at decoding, if most of
    ``texts`` (responses in which no trace was found) look like its decoded form.

    >>> decoded_family(["thought\\nR is 6*7.\\n42", "thought\\nx\\n4"]).name
    'gemma4'
    """
    import re

    for fmt in _registry.values():
        if fmt.decoded_form is None:
            continue
        pattern = re.compile(fmt.decoded_form)
        hits = sum(pattern.match(t) is not None for t in texts)
        if texts and hits * 2 > len(texts):
            return fmt
    return None


def register_format(
    name: str,
    open: str,  # noqa: A002 - mirrors the public contract ``register_format(name, open=..., close=...)``
    close: str,
    *,
    replace: bool = False,
    **options: object,
) -> ReasoningFormat:
    """Add a delimiter family (or replace one of yours with ``replace=True``).

    ``options`` are the other :class:`ReasoningFormat` fields (``case_sensitive``,
    ``bare_close``, ``implicit_closes``, ``answer_start``, ``answer_end``, ``auto``,
    ``refines``, ``models``).  Built-in families cannot be replaced.  With
    ``fmt="auto"``, a user family whose delimiters equal a built-in one's is never
    chosen over it; ask for it by name.

    Example:
        >>> f = register_format("scratchpad", open="<scratchpad>", close="</scratchpad>")
        >>> from lm_eval_tracecollapse import parse_trace
        >>> parse_trace("<scratchpad>2+2=4</scratchpad>4").fmt
        'scratchpad'
        >>> unregister_format("scratchpad")
    """
    global _generation
    try:
        fmt = ReasoningFormat(name, open, close, **options)  # type: ignore[arg-type]
    except TypeError as exc:
        raise TypeError(f"register_format({name!r}): {exc}") from None
    with _lock:
        if name in _BUILTIN_NAMES:
            raise ValueError(f"{name!r} is a built-in reasoning format and cannot be replaced; pick another name")
        if name in _registry and not replace:
            raise ValueError(f"reasoning format {name!r} is already registered; pass replace=True to replace it")
        if fmt.refines is not None and fmt.refines not in _registry:
            raise ValueError(f"format {name!r} refines unknown format {fmt.refines!r}")
        _registry[name] = fmt
        _generation += 1
    return fmt


def unregister_format(name: str) -> None:
    """Remove a user-registered family (built-ins stay).

    Example:
        >>> _ = register_format("tmp_fmt", open="<t>", close="</t>")
        >>> unregister_format("tmp_fmt"); "tmp_fmt" in list_formats()
        False
    """
    global _generation
    with _lock:
        if name in _BUILTIN_NAMES:
            raise ValueError(f"{name!r} is a built-in reasoning format and cannot be removed")
        get_format(name)
        del _registry[name]
        _generation += 1


def user_formats() -> tuple[ReasoningFormat, ...]:
    """The families added with :func:`register_format`, in registration order.

    A worker process started with ``spawn`` or ``forkserver`` imports this module
    afresh and knows only the built-in families; what it needs to parse as this
    process does is this tuple (picklable), handed to :func:`adopt_formats` there.
    Our ``trace_status`` filter carries it when it is pickled.

    Example:
        >>> _ = register_format("memo", open="<memo>", close="</memo>")
        >>> [f.name for f in user_formats()]
        ['memo']
        >>> unregister_format("memo")
    """
    return tuple(f for name, f in _registry.items() if name not in _BUILTIN_NAMES)


def adopt_formats(formats: tuple[ReasoningFormat, ...] | list[ReasoningFormat]) -> None:
    """Register, in this process, families that another process registered
    (:func:`user_formats` there): absent ones are added, equal ones left alone, and a
    family of the same name defined differently here is replaced by the given one, so
    that a worker parses exactly as the process that sent it the work.

    Example:
        >>> from lm_eval_tracecollapse.core.formats import ReasoningFormat
        >>> adopt_formats([ReasoningFormat("memo2", "<m>", "</m>")])
        >>> get_format("memo2").open
        '<m>'
        >>> unregister_format("memo2")
    """
    global _generation
    with _lock:
        for fmt in formats:
            if fmt.name in _BUILTIN_NAMES or _registry.get(fmt.name) == fmt:
                continue
            if fmt.refines is not None and fmt.refines not in _registry:
                raise ValueError(f"format {fmt.name!r} refines unknown format {fmt.refines!r}; adopt that one first")
            _registry[fmt.name] = fmt
            _generation += 1
