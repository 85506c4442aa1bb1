"""A process that builds students on a shared prefix-cache directory (for the cache-sharing test).

`python -m tests.prefix_cache_user DIR TAG` builds a student for three prompt versions (named after
TAG, so two processes never share a key), twice, and prints each pass's prefix sources as JSON.
"""

import json
import sys
from pathlib import Path

from stream.prompts import starter_prompt
from stream.student import StudentSettings, build_student

VERSIONS = 3


def main(directory: Path, tag: str) -> None:
    settings = StudentSettings().model_copy(update={"prefix_cache_dir": directory, "n_ctx": 2048})
    base = starter_prompt()
    content = base.model_dump(exclude={"sha256", "version"})
    prompts = [type(base).create(**content, version=f"{tag}-{n}") for n in range(VERSIONS)]
    passes = []
    for _ in range(2):
        sources = []
        for prompt in prompts:
            student = build_student(settings, prompt)
            sources.append(student.prefix_load.source)
            student.close()
        passes.append(sources)
    sys.stdout.write(json.dumps(passes) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
