"""The offline Prompt-Level Distillation pipeline (teacher rationales -> instructions -> PromptVersion).

Not built yet: the worker runs the hand-written starter prompt (`stream/prompts/starter.json`) until
the distiller produces versions. It may import `schemas` and `stream.student`; `stream` never imports it.
"""
