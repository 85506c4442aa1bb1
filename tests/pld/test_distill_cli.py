"""`pld distill` and `pld eval` from the command line: a user's task text, and JSON alone on stdout."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from distiller.examples import Dataset
from distiller.pipeline import DistillSettings, described
from pld.distill_commands import _descriptions
from schemas import Exemplar, Instruction, InstructionProvenance, LabelDefinition, PromptVersion
from stream.student import StudentSettings
from tests.distiller.helpers import write_dataset

TOY = Dataset(
    name="toy",
    task="Classify the text into one of the labels.",
    labels=[LabelDefinition(name="ham", description="g"), LabelDefinition(name="spam", description="g")],
    default_label="ham",
)


def test_flags_override_the_description_file(tmp_path: Path) -> None:
    """`--describe FILE` gives the task and labels; `--task` and `--label-description` win over it."""
    file = tmp_path / "describe.json"
    file.write_text(json.dumps({"task": "Spot spam.", "labels": {"spam": "Ads.", "ham": "Personal mail."}}))
    args = argparse.Namespace(describe=file, task=None, label_description=["spam=Unsolicited ads or scams."])
    assert _descriptions(args) == ("Spot spam.", {"spam": "Unsolicited ads or scams.", "ham": "Personal mail."})


def test_descriptions_replace_the_generic_ones_and_typos_fail() -> None:
    """The student and the teacher read the user's words; a label the data does not have is an error."""
    settings = DistillSettings(
        dataset="toy", out=Path("p.json"), version="v", cache_dir=Path(), student=StudentSettings(),
        task="Spot spam in a family inbox.", label_descriptions=(("spam", "Unsolicited ads or scams."),),
    )  # fmt: skip
    dataset = described(TOY, settings)
    assert dataset.task == "Spot spam in a family inbox."
    assert [label.description for label in dataset.labels] == ["g", "Unsolicited ads or scams."]
    with pytest.raises(ValueError, match="spma"):
        described(TOY, DistillSettings(**{**settings.__dict__, "label_descriptions": (("spma", "x"),)}))


@pytest.mark.model
def test_eval_json_is_the_only_thing_on_stdout(tmp_path: Path) -> None:
    """`pld eval --json | jq` works: logs and progress go to stderr, stdout parses as one JSON object."""
    data = write_dataset(tmp_path / "toy.jsonl")
    rule = Instruction.from_text(
        "If the text advertises an offer, label it spam.",
        "spam",
        InstructionProvenance(
            source="hand_written", exemplars=[Exemplar(example_id="x", text="Win a free phone now", label="spam")]
        ),
    )
    prompt = PromptVersion.create(
        version="toy-v1", task="Spot spam.", labels=TOY.labels, default_label="ham", instructions=[rule]
    )
    prompt_file = tmp_path / "toy.json"
    prompt_file.write_text(prompt.model_dump_json())
    done = subprocess.run(
        [sys.executable, "-m", "pld.cli", "eval", "--dataset", str(data), "--prompt", str(prompt_file),
         "--out", str(tmp_path / "report"), "--teacher", "none", "--limit", "8", "--dev-limit", "6", "--json"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert {"baseline_macro_f1", "pld_macro_f1", "n_test", "rules_only_macro_f1", "exemplars_only_macro_f1"} <= set(
        summary
    )
    assert "dataset_loaded" in done.stderr
