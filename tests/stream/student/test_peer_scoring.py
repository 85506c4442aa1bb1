"""Another engine's next-token log-probabilities, read by our scorer: the peer benchmark's label mapping.

A fresh llama.cpp context evaluates each branch sequence `branch_sequences` gives (prefix, stem, cue) as
a peer server would, its log-softmax goes through `classify_from_logprobs`, and the result must be the
student's own classification of the message (the same tokens, decoded in one call instead of after a
cached prefix: probabilities within rounding of the KV layout).
"""

import numpy as np
import pytest

from stream.prompts import starter_prompt
from stream.student import MAX_SEQUENCES, ContextSettings, LlamaContext, build_student, checked_model_file
from tests.conftest import StudentSettingsFactory

pytestmark = pytest.mark.model

MESSAGES = ["Thanks for the help, have a great day!", "I will find where you live and hurt you."]


def test_a_peers_logprobs_decide_as_the_student_does(student_settings: StudentSettingsFactory) -> None:
    settings = student_settings(n_ctx=4096)
    student = build_student(settings, starter_prompt())
    peer = LlamaContext(checked_model_file(settings).path, ContextSettings(n_ctx=4096, n_seq_max=MAX_SEQUENCES))
    try:
        for text in MESSAGES:
            [own] = student.classify([text])
            branch_logprobs = []
            for sequence in student.branch_sequences(text):
                peer.evaluate_prefix(sequence[:1])
                logits = peer.full_logits(sequence[1:]).astype(np.float64)
                logprobs = logits - np.logaddexp.reduce(logits)
                branch_logprobs.append(dict(enumerate(logprobs.tolist())))
            mapped = student.classify_from_logprobs(branch_logprobs)
            assert mapped.label == own.label
            for label, p in own.probabilities.items():
                assert mapped.probabilities[label] == pytest.approx(p, abs=0.05)
            top_only = {token: lp for token, lp in branch_logprobs[0].items() if lp > -30}  # what n_probs returns
            assert (
                student.classify_from_logprobs([top_only, {}]).label
                == student.classify_from_logprobs([branch_logprobs[0], {}]).label
            )
    finally:
        peer.close()
        student.close()


def test_a_text_prompt_peer_reads_the_same_tokens_and_its_token_texts_decide_alike(
    student_settings: StudentSettingsFactory,
) -> None:
    """llama-cpp-python's server takes the prompt as text and names tokens by their text: the text a branch is
    written out as tokenizes back to the branch's tokens, and log-probabilities keyed by token text decide as
    the same ones keyed by token id."""
    settings = student_settings(n_ctx=4096)
    student = build_student(settings, starter_prompt())
    reader = LlamaContext(checked_model_file(settings).path, ContextSettings(n_ctx=512, n_seq_max=1))
    try:
        for text in [*MESSAGES, "Ça va? «Très bien» 👍 <b>merci</b>"]:
            sequences, texts = student.branch_sequences(text), student.branch_texts(text)
            for sequence, written in zip(sequences, texts, strict=True):
                assert reader.tokenize(written, parse_special=True, add_bos=True) == sequence
            by_id = {token: -float(rank) for rank, token in enumerate(range(0, 4000, 7))}
            by_text = {reader.detokenize([token], special=False): lp for token, lp in by_id.items()}
            assert student.classify_from_token_texts([by_text, {}]) == student.classify_from_logprobs([by_id, {}])
    finally:
        reader.close()
        student.close()
