"""Pattern mining: step normalisation, grouping, support and purity."""

from distiller.mining import Step, mine_patterns, normalise_step
from tests.distiller.helpers import bag_of_words


def test_normalise_strips_numbering_and_drops_answers() -> None:
    """Numbering and quotes go; answer lines and fragments carry no reusable logic."""
    assert (
        normalise_step("2. The sentence says 'all nurses are women' here")
        == "The sentence says all nurses are women here"
    )
    assert normalise_step("Answer: stereotype") is None
    assert normalise_step("Step 3) too short") is None


def mixed_steps() -> list[Step]:
    steps = [
        Step(f"the sentence repeats a common stereotype about group {i}", f"e{i}", "stereotype", False)
        for i in range(4)
    ]
    steps += [
        Step("the sentence is about something else entirely unrelated", f"u{i}", "unrelated", False) for i in range(3)
    ]
    steps.append(Step("the sentence is about something else entirely unrelated", "s9", "stereotype", False))
    return steps


def test_similar_steps_of_one_label_group_and_rank_by_support() -> None:
    """Per label, steps repeating the same logic form a pattern; its purity counts other labels' steps near it."""
    patterns = mine_patterns(mixed_steps(), bag_of_words, similarity=0.5, min_support=3)
    assert [p.label for p in patterns] == ["stereotype", "unrelated"]
    assert (patterns[0].support, patterns[0].purity) == (4, 1.0)
    assert (patterns[1].support, patterns[1].purity) == (3, 0.75)  # s9 reads the same but is a stereotype
    assert patterns[1].example_ids == ["u0", "u1", "u2"]


def test_a_minority_label_keeps_its_best_patterns_as_ranked_fallbacks() -> None:
    """A label whose logic falls under min_support still gets its best patterns of two or more examples, ranked,
    so that verification can fall back on the next when it rejects the first; well-supported ones are no fallback."""
    steps = [Step("the text is a normal friendly question", f"a{i}", "allow", False) for i in range(6)]
    steps += [Step("the text asks how to build a weapon", f"b{i}", "block", False) for i in range(2)]
    steps += [Step("a named person is called worthless", f"c{i}", "block", False) for i in range(2)]
    steps += [Step("one lonely step about moving house", "d0", "block", False)]
    patterns = mine_patterns(steps, bag_of_words, similarity=0.5, min_support=3)
    assert [(p.label, p.support, p.fallback) for p in patterns] == [
        ("allow", 6, None),
        ("block", 2, ("block", 1)),
        ("block", 2, ("block", 0)),
    ]


def test_pooled_mining_groups_every_label_together() -> None:
    """With per_label=False all steps are grouped together and a group's label is its majority."""
    steps = mixed_steps()
    patterns = mine_patterns(steps, bag_of_words, similarity=0.5, min_support=3, per_label=False)
    assert [p.label for p in patterns] == ["stereotype", "unrelated"]
    assert patterns[0].support == 4
    assert patterns[0].purity == 1.0
    assert patterns[1].support == 4
    assert patterns[1].purity == 0.75
    assert patterns[1].example_ids == ["s9", "u0", "u1", "u2"]


def test_rare_logic_is_dropped() -> None:
    """A pattern backed by fewer than min_support examples does not become an instruction."""
    steps = [Step("a lonely reasoning step about weather", "e1", "unrelated", False)]
    assert mine_patterns(steps, bag_of_words, min_support=2) == []


def test_with_a_taxonomy_each_category_is_mined_on_its_own() -> None:
    """Steps of one label but two categories make two patterns, each naming its category; purity is by category."""
    steps = [
        Step("the text asks how to build a weapon at home", f"w{i}", "block", False, "dangerous") for i in range(3)
    ]
    steps += [Step("the text says people of a group are vermin", f"h{i}", "block", False, "hate") for i in range(3)]
    steps.append(Step("the text asks how to build a weapon at home", "h9", "block", False, "hate"))
    patterns = mine_patterns(steps, bag_of_words, similarity=0.5, min_support=3)
    assert {(p.category, p.label, p.support) for p in patterns} == {("dangerous", "block", 3), ("hate", "block", 3)}
    dangerous = next(p for p in patterns if p.category == "dangerous")
    assert dangerous.purity == 0.75  # h9 reads like a weapons request but is filed under hate


def test_an_impure_fallback_must_be_purer_than_its_groups_share_of_examples() -> None:
    """A thin label's logic worded like other labels' steps still stands in when it is at least twice as pure
    as the label's share of examples; logic no purer than that share does not."""
    steps = [Step("the text is asking about a neighbour", f"a{i}", "allow", False) for i in range(12)]
    steps += [Step("the weather today is sunny and warm", f"w{i}", "allow", False) for i in range(60)]
    steps += [Step("the text is asking about a neighbour", f"b{i}", "block", False) for i in range(2)]
    steps += [Step("the weather today is sunny and warm", f"c{i}", "block", False) for i in range(2)]
    blocking = [p for p in mine_patterns(steps, bag_of_words, similarity=0.5, min_support=3) if p.label == "block"]
    assert [(p.example_ids, p.fallback) for p in blocking] == [(["b0", "b1"], ("block", 0))]
    assert blocking[0].purity == 2 / 14  # block is 4 of 76 examples: 2 x 0.053 <= 0.143
