"""Where a worker gets its prompt versions: the packaged default and starter, a file, or the Redis registry."""

from stream.prompts.files import Sealed, default_prompt, load_prompt_file, seal_prompt_file, starter_prompt
from stream.prompts.registry import Deployment, HistoryEntry, Pointer, PromptRegistry

__all__ = [
    "Deployment",
    "HistoryEntry",
    "Pointer",
    "PromptRegistry",
    "Sealed",
    "default_prompt",
    "load_prompt_file",
    "seal_prompt_file",
    "starter_prompt",
]
