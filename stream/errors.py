"""Exceptions raised by the `stream` package; the engine's own (`stream.student.errors`) are re-exported here.

StreamError
└── PromptStoreError     the prompt registry (Redis) is unreachable or holds an invalid version
    └── PromptSignatureError   a version or deployment is unsigned, its signature does not match, or no key
EngineError (stream.student.errors): ModelFileError, ModelLoadError, SelfTestError, PromptError, InferenceError
"""

from stream.student import EngineError, InferenceError, ModelFileError, ModelLoadError, PromptError, SelfTestError

__all__ = [
    "EngineError",
    "InferenceError",
    "ModelFileError",
    "ModelLoadError",
    "PromptError",
    "PromptSignatureError",
    "PromptStoreError",
    "SelfTestError",
    "StreamError",
]


class StreamError(Exception):
    """Root of the errors the worker raises around its student (the engine's are `EngineError`s)."""


class PromptStoreError(StreamError):
    """The prompt store is unreachable or holds an invalid version."""


class PromptSignatureError(PromptStoreError):
    """Signing is on and a version is unsigned, or its signature does not match its content."""
