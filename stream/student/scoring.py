"""The two scoring modes: how the cues after a message become a label, probabilities and cited rules.

single_pass
    Branches: the label cue (read: each label's first token) and the rule cue (read: each rule's
    letter). Label = argmax of the calibrated label distribution. Cited rules: those that target the
    chosen label and whose calibrated letter probability is above uniform, best first, at most
    `MAX_CITED`. With a taxonomy, a third branch, the category cue (read: each category's first token,
    and `none`'s), and the taxonomy's mapping decides the action: both cues say how likely the message
    is to be allowed (the mean of the label cue's P(default) and the category cue's P(none) in log-odds:
    on the v5 policy the label cue alone allowed "sub4sub" self-promotion the category cue called spam);
    the held mass is shared among the categories' actions in proportion to the category cue (so a held
    threat is blocked and held swearing reviewed, as the version maps them, and a deployment that maps a
    category to the default label allows it). The decision's category is then the likeliest category
    whose action is the chosen label (none for the default label), and only that category's rules are
    cited: a threat no longer cites the spam rule because the rule letters happened to rank it first.
    The category cue is read uncalibrated: content-free messages put nearly all its mass on `none`, and
    dividing by that inflates the rarest categories (measured on the v4 policy with Qwen 1.5B: 44 of 72
    held harmful test messages named right read as it is, 34 calibrated).
rule_check
    Branches: one yes/no question per rule. A rule fires when its calibrated P(yes) > 0.5. Label =
    target of the first fired rule in prompt order (the prompt's order is its priority), else the
    default label; cited rules = every fired rule. Probabilities follow the same decision list:
    P(rule k decides) = p_k * prod_{j<k} (1 - p_j), P(default) = prod_j (1 - p_j).

Both calibrate against content-free messages (`CONTENT_FREE_TEXTS`), measured once per prompt.

Label biases: when the prompt version carries a `LabelCalibration` for this model file and mode
(fitted by `pld eval` on a dev split), each label's bias is added to its log-probability and the
label is the argmax of the result, in both modes; cited rules are then those that target that label
(single_pass: above uniform; rule_check: fired). Without one, the rules above apply unchanged.

Certain action (single_pass with a taxonomy, when the calibration carries one): the most severe label
(block) is given only where the message's P(default) is at most the bound fitted on dev; above it the
message gets the next label (review) with the same category and citations, so a person looks at a
message the student is unsure of instead of it being removed unseen.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from schemas import CertainAction, LabelCalibration, PromptVersion, ScoringMode
from stream.student.errors import InferenceError
from stream.student.label_scoring import Probabilities, apply_label_biases, calibrate, first_token_ids, softmax
from stream.student.llama_context import Branch, Logits
from stream.student.prompt_format import (
    NO,
    NO_CATEGORY,
    YES,
    category_candidate,
    category_cue,
    label_candidate,
    label_cue,
    letter_candidate,
    rule_cue,
    rule_question,
)
from stream.student.protocol import Classification

MAX_CITED = 3
FIRE_THRESHOLD = 0.5
PROBABILITY_FLOOR = 1e-6  # keeps a cue's log-odds finite
Tokenize = Callable[[str, bool], list[int]]  # (text, parse_special) -> tokens


@dataclass
class Scorer:
    """Branches to decode after each message, and how their logits become a classification."""

    mode: ScoringMode
    prompt: PromptVersion
    branches: list[Branch]
    label_biases: Probabilities | None = None
    certain_action: CertainAction | None = None
    content_free: list[Probabilities] = field(default_factory=list)

    def calibrate_with(self, content_free_logits: Sequence[Sequence[Logits]]) -> None:
        """Record the mean branch distributions over content-free messages."""
        self.content_free = [
            np.mean([softmax(logits[b]) for logits in content_free_logits], axis=0) for b in range(len(self.branches))
        ]

    def classify(self, logits: Sequence[Logits]) -> Classification:
        """The classification for one message from its branches' logits."""
        if not all(np.isfinite(branch).all() for branch in logits):
            raise InferenceError("the model produced non-finite logits for this message")
        calibrated = [
            calibrate(softmax(branch), baseline) for branch, baseline in zip(logits, self.content_free, strict=True)
        ]
        if self.mode is ScoringMode.SINGLE_PASS and self.prompt.categories:
            calibrated[-1] = softmax(logits[-1])  # the category cue is read as it is: see the module's docstring
        if self.mode is ScoringMode.SINGLE_PASS:
            return _single_pass(self.prompt, calibrated, self.label_biases, self.certain_action)
        return _rule_check(self.prompt, calibrated, self.label_biases)


def build_scorer(mode: ScoringMode, prompt: PromptVersion, tokenize: Tokenize, model_sha256: str) -> Scorer:
    """The scorer for `prompt` in `mode`, with its branches tokenized and the prompt's label biases for
    this model file (if it carries any)."""

    def plain(text: str) -> list[int]:
        return tokenize(text, False)

    if mode is ScoringMode.SINGLE_PASS:
        label_ids = first_token_ids([label_candidate(n) for n in prompt.label_names], plain, "label")
        branches = [Branch(tokenize(label_cue(), True), label_ids)]
        if prompt.instructions and prompt.show_rules:
            letters = [letter_candidate(i) for i in range(len(prompt.instructions))]
            branches.append(Branch(tokenize(rule_cue(), True), first_token_ids(letters, plain, "rule letter")))
        if prompt.categories:
            names = [category_candidate(name) for name in category_names(prompt)]
            branches.append(Branch(tokenize(category_cue(), True), first_token_ids(names, plain, "category")))
    else:
        yes_no = first_token_ids([YES, NO], plain, "answer")
        branches = [Branch(tokenize(rule_question(i, ins), True), yes_no) for i, ins in enumerate(prompt.instructions)]
    calibration = prompt.calibration_for(model_sha256, mode)
    certain_action = calibration.certain_action if calibration is not None and prompt.categories else None
    return Scorer(mode, prompt, branches, _label_biases(prompt, calibration), certain_action)


def category_names(prompt: PromptVersion) -> list[str]:
    """The category cue's answers, in branch order: the taxonomy's categories, then `NO_CATEGORY`."""
    return [category.name for category in prompt.categories] + [NO_CATEGORY]


def _label_biases(prompt: PromptVersion, calibration: LabelCalibration | None) -> Probabilities | None:
    if calibration is None:
        return None
    return np.array([calibration.label_biases[name] for name in prompt.label_names], dtype=np.float64)


def _single_pass(
    prompt: PromptVersion,
    calibrated: list[Probabilities],
    biases: Probabilities | None,
    certain_action: CertainAction | None = None,
) -> Classification:
    labels = prompt.label_names
    label_probs = by_taxonomy(prompt, calibrated[0], calibrated[-1]) if prompt.categories else calibrated[0]
    label_probs = label_probs if biases is None else apply_label_biases(label_probs, biases)
    label = labels[int(np.argmax(label_probs))]
    category = _category(prompt, label, calibrated[-1]) if prompt.categories else None
    decided = label  # the category's action: its rules are the ones cited, even where the label is softened
    if certain_action is not None:
        label = certain_action.label_for(label, float(label_probs[labels.index(prompt.default_label)]))
    scores: dict[str, float] = {}
    cited: list[str] = []
    if prompt.instructions and prompt.show_rules:
        rule_probs = calibrated[1]
        scores = {ins.id: float(p) for ins, p in zip(prompt.instructions, rule_probs, strict=True)}
        uniform = 1.0 / len(prompt.instructions)
        ranked = sorted(zip(prompt.instructions, rule_probs, strict=True), key=lambda pair: -pair[1])
        cited = [
            ins.id
            for ins, p in ranked
            if ins.target_label == decided and p > uniform and (not prompt.categories or ins.category == category)
        ][:MAX_CITED]
    return Classification(
        label=label,
        probabilities=distribution(dict(zip(labels, label_probs, strict=True))),
        instruction_ids=cited,
        instruction_scores=unit_scores(scores),
        category=category,
        unsure=label != decided,
    )


def by_taxonomy(prompt: PromptVersion, label_probs: Probabilities, category_probs: Probabilities) -> Probabilities:
    """The label distribution the taxonomy gives. P(default) from both cues: the mean of the label cue's
    and the category cue's (`none`) log-odds, so a message is allowed only as far as both cues allow it;
    the rest (the held mass) shared among the categories' actions in proportion to the category cue."""
    labels = prompt.label_names
    default = labels.index(prompt.default_label)
    shares = np.asarray(category_probs[: len(prompt.categories)], dtype=np.float64)
    shares = shares / shares.sum() if shares.sum() > 0 else np.full(len(shares), 1.0 / len(shares))
    allowed = _mean_log_odds(float(label_probs[default]), float(category_probs[-1]))
    out = np.zeros(len(labels))
    out[default] = allowed
    for category, share in zip(prompt.categories, shares, strict=True):
        out[labels.index(category.action)] += (1.0 - allowed) * share
    return out


def _mean_log_odds(first: float, second: float) -> float:
    """The probability whose log-odds is the mean of the two probabilities' log-odds."""
    odds = [min(max(p, PROBABILITY_FLOOR), 1.0 - PROBABILITY_FLOOR) for p in (first, second)]
    logit = sum(math.log(p / (1.0 - p)) for p in odds) / len(odds)
    return 1.0 / (1.0 + math.exp(-logit))


def _category(prompt: PromptVersion, label: str, category_probs: Probabilities) -> str | None:
    """The likeliest category whose action is `label` (None when no category maps to it)."""
    by_name = dict(zip(category_names(prompt), category_probs, strict=True))
    fitting = [category.name for category in prompt.categories if category.action == label]
    return max(fitting, key=lambda name: by_name[name]) if fitting else None


def _rule_check(prompt: PromptVersion, calibrated: list[Probabilities], biases: Probabilities | None) -> Classification:
    fire = [float(p[0]) for p in calibrated]  # calibrated P(yes) per rule
    probabilities = dict.fromkeys(prompt.label_names, 0.0)
    undecided = 1.0
    for instruction, p_yes in zip(prompt.instructions, fire, strict=True):
        probabilities[instruction.target_label] += undecided * p_yes
        undecided *= 1.0 - p_yes
    probabilities[prompt.default_label] += undecided
    fired = [ins for ins, p in zip(prompt.instructions, fire, strict=True) if p > FIRE_THRESHOLD]
    label = fired[0].target_label if fired else prompt.default_label
    if biases is not None:
        biased = apply_label_biases(np.array(list(probabilities.values())), biases)
        probabilities = {name: float(p) for name, p in zip(prompt.label_names, biased, strict=True)}
        label = prompt.label_names[int(np.argmax(biased))]
        fired = [ins for ins in fired if ins.target_label == label]
    return Classification(
        label=label,
        probabilities=distribution(probabilities),
        instruction_ids=[ins.id for ins in fired],
        instruction_scores=unit_scores({ins.id: p for ins, p in zip(prompt.instructions, fire, strict=True)}),
    )


def distribution(probabilities: Mapping[str, float]) -> dict[str, float]:
    """Probabilities clipped into [0, 1] and renormalised, then clipped again: float sums such as the rule
    check's decision list can round to 1.0000000000000002, which the decision schema rightly rejects."""
    values = {name: float(p) for name, p in probabilities.items()}
    if all(0.0 <= p <= 1.0 for p in values.values()):
        return values  # in range: untouched, so a replay reproduces it bit for bit
    clipped = {name: min(max(p, 0.0), 1.0) for name, p in values.items()}
    total = sum(clipped.values())
    if total <= 0.0:
        return {name: 1.0 / len(clipped) for name in clipped}
    return {name: min(p / total, 1.0) for name, p in clipped.items()}


def unit_scores(scores: Mapping[str, float]) -> dict[str, float]:
    """Per-rule scores clipped into [0, 1] (each is a probability of its own, not part of a distribution)."""
    return {name: min(max(float(p), 0.0), 1.0) for name, p in scores.items()}
