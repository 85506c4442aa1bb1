"""PromptVersion: canonical hashing, stable instruction ids and consistency checks."""

from datetime import date

import pytest
from pydantic import ValidationError

from schemas import Category, CertainAction, Instruction, LabelCalibration, PromptVersion, ScoringMode
from schemas.prompts import LabelDefinition, instruction_id
from tests.schemas.helpers import PROVENANCE, make_prompt, taxonomy_prompt


def test_round_trip_keeps_hash() -> None:
    """A prompt read back from JSON validates and keeps its sha256."""
    prompt = make_prompt()
    assert PromptVersion.model_validate_json(prompt.model_dump_json()) == prompt


def test_edited_content_is_rejected() -> None:
    """Changing an instruction without recomputing the hash fails: stored prompts cannot be silently edited."""
    data = make_prompt().model_dump(mode="json")
    data["instructions"][0]["text"] = "The message is friendly."
    with pytest.raises(ValidationError, match="does not match the content"):
        PromptVersion.model_validate(data)


def test_hash_changes_with_content() -> None:
    """Different content gives a different sha256; equal content gives the same."""
    assert make_prompt().sha256 == make_prompt().sha256
    assert make_prompt(task="Another task.").sha256 != make_prompt().sha256


def test_instruction_id_is_stable_and_content_derived() -> None:
    """Unchanged text keeps its id; a different target gets another id."""
    assert instruction_id("Rule text.", "block") == instruction_id("Rule text.", "block")
    assert instruction_id("Rule text.", "block") != instruction_id("Rule text.", "allow")
    assert Instruction.from_text("Rule text.", "block", PROVENANCE).id == instruction_id("Rule text.", "block")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"default_label": "review"}, "default_label"),
        ({"instructions": [Instruction.from_text("x", "review", PROVENANCE)]}, "targets"),
        (
            {
                "labels": [
                    LabelDefinition(name="allow", description="a"),
                    LabelDefinition(name="allow", description="b"),
                ]
            },
            "not unique",
        ),
        ({"labels": [LabelDefinition(name="allow", description="a")]}, "at least 2"),
    ],
)
def test_inconsistent_prompts_are_rejected(overrides: dict[str, object], message: str) -> None:
    """Labels must be unique and every default and target label must be one of them."""
    with pytest.raises(ValidationError, match=message):
        make_prompt(**overrides)


def test_label_names_must_be_identifiers() -> None:
    """Label names are lower-case identifiers; anything else is refused."""
    with pytest.raises(ValidationError):
        LabelDefinition(name="Not OK", description="x")


def test_a_taxonomy_maps_categories_to_actions_and_rules_name_theirs() -> None:
    """Categories map to labels; a rule names a defined category whose action is its target."""
    base = make_prompt()
    categories = [
        Category(name="threat", action="block", description="Threats of violence."),
        Category(name="profanity", action="allow", description="Swearing without a target (a gaming forum)."),
    ]
    rule = base.instructions[0]
    tagged = rule.model_copy(update={"category": "threat" if rule.target_label == "block" else "profanity"})
    ok = base.variant("taxonomy", categories=categories, instructions=[tagged])
    assert ok.category_of(tagged.id) == tagged.category
    assert ok.sha256 != base.variant("taxonomy").sha256
    assert base.variant("same").sha256 == make_prompt(version="same").sha256  # no taxonomy: the hash is unchanged
    with pytest.raises(ValidationError, match="not defined"):
        base.variant("bad", categories=categories, instructions=[rule.model_copy(update={"category": "spam"})])
    with pytest.raises(ValidationError, match="not one of"):
        base.variant("bad", categories=[Category(name="spam", action="delete", description="x")])


def test_a_certain_action_is_hashed_only_when_set_and_names_held_labels() -> None:
    """A calibration without a certain action hashes and names the version as before it existed; one with it
    changes both; a certain action must soften a held label into another held label."""
    prompt = taxonomy_prompt()
    calibration = LabelCalibration(
        model_sha256="a" * 64, scoring_mode=ScoringMode.SINGLE_PASS, label_biases={"allow": 0.0, "review": 0.5,
        "block": -0.5}, dev_split="dev", dev_examples=10, dev_sha256="b" * 64, dev_macro_f1=0.8,
        fitted_on=date(2026, 12, 4),
    )  # fmt: skip
    plain = prompt.with_calibration(calibration)
    stored = plain.model_dump(mode="json")
    del stored["calibrations"][0]["certain_action"]  # as a file written before certain actions existed
    assert PromptVersion.model_validate(stored).sha256 == plain.sha256
    certain = CertainAction(label="block", otherwise="review", max_default_probability=0.05, dev_precision=0.96)
    softened = prompt.with_calibration(calibration.model_copy(update={"certain_action": certain}))
    assert (softened.sha256, softened.version) != (plain.sha256, plain.version)
    wrong = calibration.model_copy(update={"certain_action": certain.model_copy(update={"otherwise": "allow"})})
    with pytest.raises(ValueError, match="held labels"):
        prompt.with_calibration(wrong)
