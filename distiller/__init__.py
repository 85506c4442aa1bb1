"""The offline Prompt-Level Distillation pipeline: datasets, teachers, rationales, mining, abstraction,
assembly into a `PromptVersion`, and evaluation. It may import `schemas` and `stream.student`; `stream`
never imports it."""
