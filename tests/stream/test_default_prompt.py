"""The policy a fresh worker is seeded with is the distilled moderation prompt, calibrated per student."""

import json
from pathlib import Path

from schemas import PromptVersion, ScoringMode
from stream.prompts import default_prompt, starter_prompt
from stream.student.catalogue import CATALOGUE, StudentName

DISTILLED = Path(__file__).resolve().parents[2] / "prompts" / "moderation-contrast-v5.json"  # uncalibrated


def test_default_is_the_distilled_moderation_prompt_not_the_starter() -> None:
    shipped = default_prompt()
    distilled = PromptVersion.model_validate(json.loads(DISTILLED.read_text(encoding="utf-8")))
    assert shipped.without_calibrations().sha256 == distilled.without_calibrations().sha256
    assert shipped.sha256 != starter_prompt().sha256
    assert all(instruction.provenance.source == "distilled" for instruction in shipped.instructions)


def test_default_carries_a_contrast_dev_calibration_for_the_default_and_the_embedded_student() -> None:
    """Calibrations are fitted on the contrast set's dev split (not the style-confounded `moderation`)."""
    shipped = default_prompt()
    for student in (StudentName.QWEN_1_5B, StudentName.GEMMA_270M):
        mode = shipped.scoring_mode or ScoringMode.SINGLE_PASS
        calibration = shipped.calibration_for(CATALOGUE[student].sha256, mode)
        assert calibration is not None, f"no calibration for {student}"
        assert calibration.dev_examples > 0
        assert calibration.dev_split.startswith("moderation-contrast")
