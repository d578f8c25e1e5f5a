"""lm-eval models that keep the trace intact: ``tc_replay`` (:mod:`.replay`: saved
generations answered again, rank-aware under ``torchrun``) and ``tc_chat_api`` /
``tc_completions_api`` (:mod:`.api`: OpenAI-compatible servers, the trace that a server
splits off into ``reasoning_content`` put back in front of the answer)."""

from .replay import Generation, ReplayLM

__all__ = ["Generation", "ReplayLM"]
