"""Labelled examples and datasets: what the distiller learns from and the evaluation scores on."""

from dataclasses import dataclass, field
from enum import StrEnum

from schemas import Category, LabelDefinition


class Split(StrEnum):
    """Deterministic partitions of a dataset. The test split never reaches the distiller."""

    TRAIN = "train"
    DEV = "dev"
    TEST = "test"


@dataclass(frozen=True)
class Example:
    """One labelled input. `id` is stable across runs; `text` is exactly what a model reads."""

    id: str
    text: str
    label: str
    group: str = ""  # examples sharing a group (e.g. one StereoSet context) always land in the same split
    category: str = ""  # the source's finer category where it gives one (e.g. a harm type)


@dataclass(frozen=True)
class Dataset:
    """A labelled task: its description, label set and deterministic splits."""

    name: str
    task: str
    labels: list[LabelDefinition]
    default_label: str
    splits: dict[Split, list[Example]] = field(default_factory=dict)
    categories: list[Category] = field(default_factory=list)  # a moderation taxonomy, when the data has one

    @property
    def label_names(self) -> list[str]:
        """The labels in definition order."""
        return [label.name for label in self.labels]

    def split(self, split: Split) -> list[Example]:
        """The examples of one split."""
        return self.splits.get(split, [])
