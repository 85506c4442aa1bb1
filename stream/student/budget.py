"""Does a prompt version fit the student's context? Counted with the student's own tokenizer and template."""

from dataclasses import dataclass

from schemas import PromptVersion
from stream.student.errors import PromptError
from stream.student.factory import checked_model_file
from stream.student.prompt_format import message_end, render_prefix, rule_question
from stream.student.scoring import build_scorer
from stream.student.settings import StudentSettings
from stream.student.vocabulary import Vocabulary

BRANCH_ALLOWANCE = 8  # the label and rule cues are a few tokens each


@dataclass(frozen=True)
class TokenBudget:
    """How a prompt version uses the context."""

    prefix_tokens: int
    message_tokens: int
    branch_tokens: int
    n_ctx: int

    @property
    def needed(self) -> int:
        """Cells one message needs: the prefix, the longest message, its cues."""
        return self.prefix_tokens + self.message_tokens + self.branch_tokens


def token_budget(settings: StudentSettings, prompt: PromptVersion) -> TokenBudget:
    """Count the prefix and the longest branch (rule-check asks one question per rule) with the student,
    after building the version's scorer as a worker would (labels sharing a first token raise PromptError)."""
    model = checked_model_file(settings)
    with Vocabulary(model) as vocabulary:

        def tokenize(text: str, parse_special: bool) -> list[int]:
            return vocabulary.tokenize(text, parse_special=parse_special)

        build_scorer(prompt.scoring_mode or settings.scoring_mode, prompt, tokenize, model.sha256)
        prefix = vocabulary.count(render_prefix(prompt, vocabulary.chat)) + 1
        questions = [vocabulary.count(rule_question(i, ins)) for i, ins in enumerate(prompt.instructions)]
        branches = vocabulary.count(message_end(vocabulary.chat)) + max([BRANCH_ALLOWANCE, *questions])
    return TokenBudget(prefix, settings.max_message_tokens, branches, settings.n_ctx)


def check_budget(settings: StudentSettings, prompt: PromptVersion) -> TokenBudget:
    """The budget, or PromptError when a full-length message would not fit the context."""
    budget = token_budget(settings, prompt)
    if budget.needed > budget.n_ctx:
        raise PromptError(
            f"{prompt.version} needs {budget.needed} KV cells ({budget.prefix_tokens} prefix + "
            f"{budget.message_tokens} message + {budget.branch_tokens} cues), the context has {budget.n_ctx}"
        )
    return budget
