#!/usr/bin/env bash
# Validate docker-compose.yml without a Docker engine: Debian's `docker-compose config` parses the file,
# checks the schema and interpolates the variables (with .env.example's values, as a user's .env would).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v docker-compose >/dev/null; then  # Debian; only when missing
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
fi
docker-compose --env-file .env.example -f docker-compose.yml config -q
# and without the secrets, compose must refuse (no usable default for a secret)
if env -u WEBRECALL_API_TOKEN -u POSTGRES_PASSWORD -u FLOWER_BASIC_AUTH \
    docker-compose --env-file /dev/null -f docker-compose.yml config -q 2>/dev/null; then
  echo "docker-compose.yml starts without its secrets" >&2
  exit 1
fi
echo "docker-compose.yml: valid"
