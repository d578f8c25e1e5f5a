"""lm-eval's own OpenAI-compatible models, which read ``content`` and drop a server's reasoning field."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["STOCK_API_MODELS", "stock_api_warning"]

#: lm-eval's own OpenAI-compatible models: they keep ``content`` and drop a server's reasoning field
STOCK_API_MODELS = ("local-chat-completions", "openai-chat-completions", "local-completions", "openai-completions")


def stock_api_warning(model: str, tasks: Iterable[str]) -> str | None:
    """The warning for a run of ours (``tracecollapse eval``: every task is traced) through
    one of lm-eval's stock API models, else None.

    >>> stock_api_warning("hf", ["gsm8k_tc"]) is None
    True
    >>> stock_api_warning("local-chat-completions", ["gsm8k_tc"]).split(":")[0]
    'local-chat-completions drops the reasoning field'
    """
    traced = list(tasks)
    if model not in STOCK_API_MODELS:
        return None
    chat = "chat" in model
    instead = "tc_chat_api" if chat else "tc_completions_api (with --apply_chat_template: the model's own prompt)"
    return (
        f"{model} drops the reasoning field: a server that splits the trace off (vLLM/SGLang --reasoning-parser, "
        f"llama.cpp --reasoning-format) returns it in message.reasoning_content, which {model} never reads, so "
        f"{', '.join(traced[:3])} would count every trace as missing. Use --model {instead} (same model_args"
        + (", plus reasoning_parser=<the server's parser>)" if chat else ")")
    )
