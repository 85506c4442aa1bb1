"""Where a worker gets its prompt version: the packaged starter, a file, or the Redis store."""

from stream.prompts.files import default_prompt, load_prompt_file, starter_prompt
from stream.prompts.store import RedisPromptStore

__all__ = ["RedisPromptStore", "default_prompt", "load_prompt_file", "starter_prompt"]
