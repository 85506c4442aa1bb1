"""Size limits shared by the contracts: a moderation system reads hostile input, so every field is bounded."""

MAX_ID_CHARS = 128
MAX_TEXT_CHARS = 8_000
MAX_TENANT_CHARS = 64
MAX_METADATA_ENTRIES = 32
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512
MAX_LABEL_CHARS = 32
MAX_LABELS = 16
MAX_INSTRUCTIONS = 256
MAX_INSTRUCTION_CHARS = 1_000
MAX_PROMPT_TEXT_CHARS = 20_000

# Identifiers travel in Kafka keys, Redis keys and log lines: keep them to a safe alphabet.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"
LABEL_PATTERN = r"^[a-z][a-z0-9_]*$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
