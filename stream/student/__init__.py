"""The student engine: model files, prompt rendering, prefix KV cache and batched label scoring.

No Kafka and no Redis here: the worker and the offline evaluation score messages exactly alike.
"""

from stream.student.model_file import ModelFile, default_model_file, model_file_at
from stream.student.protocol import Classification, FakeStudent, StudentModel

__all__ = [
    "Classification",
    "FakeStudent",
    "ModelFile",
    "StudentModel",
    "default_model_file",
    "model_file_at",
]
