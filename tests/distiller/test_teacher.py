"""The `Teacher` protocol and the fake teacher of unit tests."""

import pytest

from distiller.errors import TeacherError
from distiller.teacher import ChatMessage, Teacher
from distiller.teachers import OpenAICompatibleTeacher, OpenAITeacherSettings
from distiller.testing import FakeTeacher


def test_teachers_satisfy_the_protocol() -> None:
    """The fake and the HTTP teacher are both `Teacher`s."""
    settings = OpenAITeacherSettings(base_url="http://127.0.0.1:9/v1", model="m")
    with OpenAICompatibleTeacher(settings) as http_teacher:
        assert isinstance(http_teacher, Teacher)
        assert http_teacher.id == "openai:http://127.0.0.1:9/v1:m"
    assert isinstance(FakeTeacher([]), Teacher)


def test_fake_teacher_without_replies_raises() -> None:
    """A fake teacher whose script is used up raises `TeacherError` rather than inventing text."""
    teacher = FakeTeacher(["only one"])
    assert teacher.complete([ChatMessage("user", "hi")], max_tokens=5, temperature=0.0, seed=0) == "only one"
    with pytest.raises(TeacherError, match="ran out"):
        teacher.complete([ChatMessage("user", "hi")], max_tokens=5, temperature=0.0, seed=0)
