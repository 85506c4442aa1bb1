"""Exceptions raised by the `distiller` package.

DistillerError
├── ModelAssemblyError   a chunked model could not be downloaded or failed its sha256
├── DatasetError         a dataset could not be fetched, verified or parsed
└── TeacherError         a teacher backend failed after its retries
"""


class DistillerError(Exception):
    """Root of every error raised by the distiller."""


class ModelAssemblyError(DistillerError):
    """A chunked model could not be downloaded, joined or verified."""


class DatasetError(DistillerError):
    """A dataset could not be fetched, verified or parsed."""


class TeacherError(DistillerError):
    """A teacher backend failed after its retries."""
