#!/bin/bash
# The whole test suite: dependencies, release build, every ctest label (unit, e2e, bench smoke, ...), then a short
# fuzzing pass if scripts/fuzz.sh exists. Exits non-zero when anything fails. The e2e tests need root (namespaces);
# without root they are reported as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh release
# Leftover testbeds of an interrupted earlier run would only waste memory; the tests use unique names anyway.
ctest --preset release --output-on-failure --timeout 600
if [ -x scripts/fuzz.sh ] || [ -f scripts/fuzz.sh ]; then
  bash scripts/fuzz.sh 15
fi
echo "test.sh: all tests passed"
