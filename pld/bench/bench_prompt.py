"""A ~1,000-token moderation prompt (26 rules) for the engine benchmark: the size of a distilled PLD prompt."""

from schemas import Instruction, InstructionProvenance, LabelDefinition, PromptVersion
from stream.prompts import starter_prompt

PROVENANCE = InstructionProvenance(source="hand_written", author="benchmark", notes="Benchmark-sized rule list.")
EXTRA_RULES: tuple[tuple[str, str], ...] = (
    ("The message describes a plan or desire to commit violence at a specific place, event or date.", "block"),
    ("The message praises, supports or recruits for a terrorist organisation or a mass attack.", "block"),
    ("The message sexualises a minor or asks for sexual content involving anyone under eighteen.", "block"),
    ("The message tells someone how to make weapons, explosives or poisons intended to hurt people.", "block"),
    ("The message compares a group of people to animals, vermin, disease or dirt.", "block"),
    ("The message calls for a group of people to be expelled, removed, sterilised or exterminated.", "block"),
    ("The message threatens to publish someone's private photos, messages or documents.", "block"),
    ("The message impersonates a moderator, the platform or a bank to obtain passwords or payment.", "block"),
    ("The message sells drugs, weapons, stolen accounts, counterfeit money or forged documents.", "block"),
    ("The message contains a link shortener or an unfamiliar domain together with urgency or a reward.", "review"),
    ("The message promises guaranteed profits, doubling money, or investment returns without risk.", "review"),
    ("The message asks users to move the conversation to WhatsApp, Telegram or private messages for a deal.", "review"),
    ("The message mocks someone's appearance, intelligence or family without a direct threat.", "review"),
    ("The message spreads a health or election claim presented as fact with no source.", "review"),
    ("The message is off topic self-promotion, such as asking people to follow, like or subscribe.", "review"),
    ("The message quotes, reports or criticises abusive language in order to condemn it.", "allow"),
)


POLICY_PREAMBLE = (
    "Community policy summary. Members may argue, criticise ideas, use mild profanity and discuss difficult "
    "topics such as crime, war, addiction or history, including quoting offensive material in order to "
    "condemn or analyse it. What is not allowed is targeting people: threats, harassment, dehumanising "
    "language about protected groups, encouragement of self-harm, exposure of private information, and "
    "sexual content involving minors. Commercial spam, scams, phishing and coordinated self-promotion are "
    "held for review because they waste members' time and often lead to fraud. When a message is "
    "ambiguous, consider who it targets, whether it is meant literally, and whether a reasonable member "
    "would feel threatened or deceived by it. Jokes and sarcasm are judged by their likely effect, not by "
    "the author's claimed intent. Messages in other languages follow the same rules. Moderators read the "
    "rules below from top to bottom: earlier rules take priority over later ones, and the first rule that "
    "applies decides the label. If no rule applies, the message is allowed. Each rule is written as a "
    "condition on the message alone; do not assume facts about the author or the conversation that the "
    "message does not state."
)


def bench_prompt() -> PromptVersion:
    """The starter prompt's task and labels with 26 rules (the lettering limit), about 1,000 tokens."""
    starter = starter_prompt()
    extra = [Instruction.from_text(text, label, PROVENANCE) for text, label in EXTRA_RULES]
    return PromptVersion.create(
        version="bench-26-rules",
        task=f"{starter.task}\n\n{POLICY_PREAMBLE}",
        labels=starter.labels,
        default_label=starter.default_label,
        instructions=[*starter.instructions, *extra],
    )


def empty_prompt() -> PromptVersion:
    """The same task and labels with no rules: the baseline for the prompt's per-message overhead."""
    starter = starter_prompt()
    labels: list[LabelDefinition] = starter.labels
    return PromptVersion.create(
        version="bench-no-rules",
        task=starter.task,
        labels=labels,
        default_label=starter.default_label,
        instructions=[],
    )
