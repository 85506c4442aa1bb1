"""Exceptions raised by the `stream` package.

StreamError
├── ModelFileError       the GGUF file is missing, unreadable or fails its sha256 check
├── ModelLoadError       llama.cpp could not load the model or create a context
├── SelfTestError        this llama.cpp build cannot decode the model on this CPU (the start-up self-test)
├── PromptError          a prompt version cannot be used with this model (e.g. labels share a first token)
├── InferenceError       llama.cpp failed while decoding a batch
└── PromptStoreError     the prompt registry (Redis) is unreachable or holds an invalid version
    └── PromptSignatureError   a version or deployment is unsigned, its signature does not match, or no key
"""


class StreamError(Exception):
    """Root of every error raised by the worker and its student."""


class ModelFileError(StreamError):
    """The model file is missing, unreadable or not the expected bytes."""


class ModelLoadError(StreamError):
    """llama.cpp could not load the model or create a context."""


class SelfTestError(StreamError):
    """The start-up self-test's child process crashed or failed: this build cannot run the model here."""


class PromptError(StreamError):
    """A prompt version cannot be scored with this model."""


class InferenceError(StreamError):
    """llama.cpp failed while decoding."""


class PromptStoreError(StreamError):
    """The prompt store is unreachable or holds an invalid version."""


class PromptSignatureError(PromptStoreError):
    """Signing is on and a version is unsigned, or its signature does not match its content."""
