#!/usr/bin/env bash
# Debian's chromium for the annotator's end-to-end test (Playwright drives it via executable_path and never
# downloads a browser). Idempotent: does nothing when it is installed.
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
