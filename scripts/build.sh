#!/bin/bash
# Configures and builds one CMake preset (default: release) into build/<preset>.
# Usage: scripts/build.sh [debug|release|asan-ubsan|fuzz]
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
