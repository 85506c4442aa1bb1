"""The served engine's bench deals its decoding processes shares of equal work."""

from pld.bench.engine_processes import balanced_shares
from pld.bench.peers import LONG_MESSAGE_SHARE, peer_texts


def test_the_peer_mix_splits_into_shares_of_about_equal_length() -> None:
    texts = peer_texts()
    shares = balanced_shares(texts, 2, len)
    loads = [sum(len(texts[i]) for i in share) for share in shares]
    longest = max(len(text) for text in texts)
    assert abs(loads[0] - loads[1]) <= longest
    long_ones = [sum(1 for i in share if i % LONG_MESSAGE_SHARE == 0) for share in shares]
    assert min(long_ones) >= 7  # dealt every other message, one share got all 16 long ones


def test_every_text_goes_to_exactly_one_share_in_order() -> None:
    texts = [f"message {n}" * (n % 5 + 1) for n in range(37)]
    shares = balanced_shares(texts, 3, len)
    assert sorted(i for share in shares for i in share) == list(range(37))
    assert all(share == sorted(share) for share in shares)


def test_one_process_takes_everything() -> None:
    assert balanced_shares(["a", "bb", "ccc"], 1, len) == [[0, 1, 2]]
