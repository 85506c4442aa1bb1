"""The guard's verdict: no judgement on too few decisions; a label share out of bounds takes the canary down."""

from collections import Counter

from pld.canary_guard import GuardLimits, RoleCounts, verdict


def test_the_verdict_waits_for_enough_decisions_then_bounds_every_label_share() -> None:
    limits = GuardLimits(min_decisions=10, max_label_shift=0.2)
    alike = RoleCounts(Counter(allow=7, block=3), Counter(allow=75, block=25))
    assert verdict(alike, limits) is None
    too_few = RoleCounts(Counter(block=9), Counter(allow=100))
    assert verdict(too_few, limits) is None
    blocks_all = RoleCounts(Counter(block=10), Counter(allow=75, block=25))
    assert verdict(blocks_all, limits) == (
        "allow share 0.00 against production's 0.75 over 10 canary and 100 production decisions (bound 0.20)"
    )
