"""The student engine: model files, prompt rendering, prefix KV cache and batched label scoring.

No Kafka and no Redis here: the worker and the offline evaluation score messages exactly alike. This
module is the engine's face: code outside the engine imports from here, never from its modules, and
never `llama_cpp` itself (`tests/test_layering.py`). The names that load llama.cpp's native code
(`LlamaStudent`, `LlamaContext`, `ContextSettings`, `ChatModel`, `StudentEmbedder`, `Vocabulary`, ...)
are imported on first use, so parsing arguments or reading settings never loads it.
"""

import importlib
from typing import TYPE_CHECKING

from stream.student.cascade import CascadeStudent, confident
from stream.student.catalogue import StudentName, student_model_file
from stream.student.chunked_models import QWEN_CODER_0_5B, QWEN_CODER_1_5B, ChunkedModel, assemble
from stream.student.errors import (
    EngineError,
    InferenceError,
    ModelFileError,
    ModelLoadError,
    PromptError,
    SelfTestError,
    WheelDownloadError,
)
from stream.student.factory import (
    MAX_SEQUENCES,
    build_served_student,
    build_student,
    checked_model_file,
    fast_student_settings,
    resolve_model_file,
)
from stream.student.label_scoring import LOG_FLOOR, apply_label_biases
from stream.student.model_file import ModelFile, default_model_file, model_file_at, sha256_of
from stream.student.prompt_format import RULE_LETTERS, chat_format_for, label_cue, message_end, render_prefix
from stream.student.protocol import Classification, DecodeStrategy, StudentModel, decided_category
from stream.student.registry_wheels import registry_wheel
from stream.student.self_test import describe_build, ensure_model_runs
from stream.student.settings import APP_NAME, DEFAULT_STUDENT, ENV_PREFIX, StudentSettings, default_cache_dir

if TYPE_CHECKING:
    from stream.student.budget import TokenBudget, check_budget
    from stream.student.chat_model import ChatModel, ChatReply, llama_system_info
    from stream.student.embeddings import StudentEmbedder
    from stream.student.llama_context import ContextSettings, LlamaContext
    from stream.student.llama_student import LlamaStudent
    from stream.student.prefix_cache import state_megabytes
    from stream.student.vocabulary import Vocabulary, prefix_token_counter
    from stream.student.whole_prompt import WholePromptModel

_NATIVE = {  # name -> the engine module that defines it (each loads llama.cpp)
    "TokenBudget": "budget",
    "check_budget": "budget",
    "ChatModel": "chat_model",
    "ChatReply": "chat_model",
    "llama_system_info": "chat_model",
    "StudentEmbedder": "embeddings",
    "ContextSettings": "llama_context",
    "LlamaContext": "llama_context",
    "LlamaStudent": "llama_student",
    "state_megabytes": "prefix_cache",
    "Vocabulary": "vocabulary",
    "prefix_token_counter": "vocabulary",
    "WholePromptModel": "whole_prompt",
}


def __getattr__(name: str) -> object:
    """The native names, imported when first asked for."""
    if name in _NATIVE:
        return getattr(importlib.import_module(f"{__name__}.{_NATIVE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "APP_NAME",
    "DEFAULT_STUDENT",
    "ENV_PREFIX",
    "LOG_FLOOR",
    "MAX_SEQUENCES",
    "QWEN_CODER_0_5B",
    "QWEN_CODER_1_5B",
    "RULE_LETTERS",
    "CascadeStudent",
    "ChatModel",
    "ChatReply",
    "ChunkedModel",
    "Classification",
    "ContextSettings",
    "DecodeStrategy",
    "EngineError",
    "InferenceError",
    "LlamaContext",
    "LlamaStudent",
    "ModelFile",
    "ModelFileError",
    "ModelLoadError",
    "PromptError",
    "SelfTestError",
    "StudentEmbedder",
    "StudentModel",
    "StudentName",
    "StudentSettings",
    "TokenBudget",
    "Vocabulary",
    "WheelDownloadError",
    "WholePromptModel",
    "apply_label_biases",
    "assemble",
    "build_served_student",
    "build_student",
    "chat_format_for",
    "check_budget",
    "checked_model_file",
    "confident",
    "decided_category",
    "default_cache_dir",
    "default_model_file",
    "describe_build",
    "ensure_model_runs",
    "fast_student_settings",
    "label_cue",
    "llama_system_info",
    "message_end",
    "model_file_at",
    "prefix_token_counter",
    "registry_wheel",
    "render_prefix",
    "resolve_model_file",
    "sha256_of",
    "state_megabytes",
    "student_model_file",
]
