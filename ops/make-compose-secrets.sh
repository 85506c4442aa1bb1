#!/usr/bin/env bash
# Writes ./secrets/ for docker-compose.yml: two Redis passwords, the Kafka SCRAM password and the Ed25519 key pair that signs prompt
# versions. Owner-only files; existing ones are kept. Never commit this folder (.gitignore has it).
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077
mkdir -p secrets
for name in redis_password redis_worker_password kafka_worker_password; do
  [[ -s secrets/$name ]] || head -c 24 /dev/urandom | base64 | tr -d '/+=\n' > "secrets/$name"
done
if [[ ! -s secrets/prompt_private.pem ]]; then
  openssl genpkey -algorithm ed25519 -out secrets/prompt_private.pem
  openssl pkey -in secrets/prompt_private.pem -pubout -out secrets/prompt_public.pem
fi
chmod 0444 secrets/prompt_public.pem  # the public key: workers run as another user and must read it
# The broker (the image's appuser) and the worker both read the SCRAM password; secrets/ itself stays 0700.
chmod 0444 secrets/kafka_worker_password
# Compose bind-mounts file secrets with their host owner and mode: the worker (uid 10001) must own its own.
if [[ $(id -u) -eq 0 ]]; then chown 10001 secrets/redis_worker_password; else chmod 0444 secrets/redis_worker_password; fi
echo "secrets written to $(pwd)/secrets (publish with PLD_PROMPT_PRIVATE_KEY=secrets/prompt_private.pem)"
