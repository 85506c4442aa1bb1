"""Exceptions raised by the `distiller` package.

DistillerError
├── DatasetError         a dataset could not be fetched, verified or parsed
└── TeacherError         a teacher backend failed after its retries
"""


class DistillerError(Exception):
    """Root of every error raised by the distiller."""


class DatasetError(DistillerError):
    """A dataset could not be fetched, verified or parsed."""


class TeacherError(DistillerError):
    """A teacher backend failed after its retries."""
