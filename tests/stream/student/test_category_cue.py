"""The category cue: with a taxonomy, a decision names the category the student read, and cites only its rules."""

import numpy as np

from schemas import CertainAction
from stream.student.prompt_format import NO_CATEGORY, NO_CATEGORY_DESCRIPTION, render_prefix
from stream.student.scoring import _single_pass, category_names
from tests.schemas.helpers import make_prompt, taxonomy_prompt


def decide(label: list[float], letters: list[float], categories: list[float]) -> tuple[str, str | None, list[str]]:
    prompt = taxonomy_prompt()
    result = _single_pass(prompt, [np.array(label), np.array(letters), np.array(categories)], None)
    return result.label, result.category, result.instruction_ids


def test_a_held_message_cites_only_rules_of_the_category_the_student_named() -> None:
    """The letters rank the spam rule first, the category cue says threat: the threat rule is cited, not spam."""
    prompt = taxonomy_prompt()
    label, category, cited = decide([0.1, 0.1, 0.8], [0.36, 0.6, 0.04], [0.6, 0.2, 0.1, 0.1])
    assert (label, category) == ("block", "threat")
    assert cited == [prompt.instructions[0].id]


def test_the_taxonomy_decides_the_action_of_a_held_message() -> None:
    """The label cue says held (P(allow) 0.1) and leans to review; the category cue says threat, which the
    version maps to block: the message is blocked as a threat. Swearing-like (sexual here) goes to review."""
    label, category, _cited = decide([0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.7, 0.1, 0.15, 0.05])
    assert (label, category) == ("block", "threat")
    label, category, _cited = decide([0.1, 0.45, 0.45], [0.3, 0.3, 0.4], [0.05, 0.05, 0.85, 0.05])
    assert (label, category) == ("review", "sexual")
    label, category, cited = decide([0.8, 0.1, 0.1], [0.4, 0.4, 0.2], [0.1, 0.1, 0.1, 0.7])
    assert (label, category, cited) == ("allow", None, [])


def test_a_message_is_allowed_only_as_far_as_both_cues_allow_it() -> None:
    """The label cue leans to allow (0.76) while the category cue calls it spam: held, as spam, as the v5
    demo's "sub4sub" self-promotion needed. The other way round, a confident `none` outweighs a label cue
    that leans to block; equal cues agree with themselves."""
    label, category, _cited = decide([0.76, 0.02, 0.22], [0.3, 0.6, 0.1], [0.05, 0.8, 0.05, 0.1])
    assert (label, category) == ("block", "spam")
    label, category, _cited = decide([0.3, 0.1, 0.6], [0.6, 0.3, 0.1], [0.02, 0.02, 0.01, 0.95])
    assert (label, category) == ("allow", None)
    prompt = taxonomy_prompt()
    same = _single_pass(
        prompt, [np.array([0.6, 0.1, 0.3]), np.array([0.5, 0.3, 0.2]), np.array([0.3, 0.05, 0.05, 0.6])], None
    )
    assert abs(same.probabilities["allow"] - 0.6) < 1e-9


def test_a_deployment_that_maps_a_category_to_allow_allows_it() -> None:
    """Editing the mapping is enough: the same cues, with sexual mapped to allow, give allow."""
    prompt = taxonomy_prompt()
    categories = [c if c.name != "sexual" else c.model_copy(update={"action": "allow"}) for c in prompt.categories]
    edited = prompt.variant("edited", categories=categories, instructions=prompt.instructions[:2])
    cues = [np.array([0.2, 0.7, 0.1]), np.array([0.4, 0.55, 0.05]), np.array([0.05, 0.05, 0.85, 0.05])]
    assert _single_pass(prompt, cues, None).label == "review"
    result = _single_pass(edited, [cues[0], np.array([0.4, 0.6]), cues[2]], None)
    assert (result.label, result.category) == ("allow", "sexual")
    assert abs(sum(result.probabilities.values()) - 1.0) < 1e-9


def test_a_category_without_a_rule_above_uniform_is_named_with_no_rule_cited() -> None:
    """Naming the category is not a reason to cite a rule the letters did not favour."""
    label, category, cited = decide([0.1, 0.1, 0.8], [0.1, 0.8, 0.1], [0.7, 0.1, 0.1, 0.1])
    assert (label, category, cited) == ("block", "threat", [])


def test_the_prefix_lists_the_taxonomy_only_when_the_version_has_one() -> None:
    """Categories (with their actions) and each rule's category are shown; a version without a taxonomy renders
    exactly as before, so its decisions do not move."""
    prefix = render_prefix(taxonomy_prompt())
    assert "Categories:\n- threat: Threats of violence against people. -> block" in prefix
    assert f"- {NO_CATEGORY}: {NO_CATEGORY_DESCRIPTION} -> allow" in prefix
    assert "-> block (threat)" in prefix
    plain = render_prefix(make_prompt())
    assert "Categories:" not in plain
    assert "(threat)" not in plain
    assert category_names(taxonomy_prompt()) == ["threat", "spam", "sexual", NO_CATEGORY]


def test_an_unsure_block_goes_to_review_with_its_category_and_its_rules() -> None:
    """With a certain action (block only where P(allow) <= 0.05), a threat the cues give P(allow) 0.1 is
    reviewed, still named a threat and citing the threat rule; a sure one (P(allow) 0.01) is blocked; a
    message the taxonomy sends to review or allows is untouched."""
    prompt = taxonomy_prompt()
    certain = CertainAction(label="block", otherwise="review", max_default_probability=0.05, dev_precision=0.96)
    letters = [0.8, 0.1, 0.1]

    def decide_with(label: list[float], categories: list[float]) -> tuple[str, str | None, list[str], bool]:
        cues = [np.array(label), np.array(letters), np.array(categories)]
        result = _single_pass(prompt, cues, None, certain)
        return result.label, result.category, result.instruction_ids, result.unsure

    threat_rule = prompt.instructions[0].id
    assert decide_with([0.1, 0.1, 0.8], [0.8, 0.05, 0.05, 0.1]) == ("review", "threat", [threat_rule], True)
    assert decide_with([0.01, 0.01, 0.98], [0.98, 0.005, 0.005, 0.01]) == ("block", "threat", [threat_rule], False)
    assert decide_with([0.1, 0.45, 0.45], [0.05, 0.05, 0.85, 0.05])[::3] == ("review", False)
    assert decide_with([0.8, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7])[::3] == ("allow", False)
