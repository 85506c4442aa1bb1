"""Teacher backends: an OpenAI-compatible HTTP endpoint and a local llama.cpp model."""

from distiller.teachers.local_llama import CompletionUsage, LocalLlamaTeacher, cached_sha256, local_teacher
from distiller.teachers.openai_compat import OpenAICompatibleTeacher, OpenAITeacherSettings

__all__ = [
    "CompletionUsage",
    "LocalLlamaTeacher",
    "OpenAICompatibleTeacher",
    "OpenAITeacherSettings",
    "cached_sha256",
    "local_teacher",
]
