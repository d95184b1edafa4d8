#!/usr/bin/env bash
# Installs what is missing and builds pthrun into build/ (Release).
#
#   bash tools/setup.sh          pthrun itself: build/pthrun
#   bash tools/setup.sh --test   the test suites as well (run them with ctest --test-dir build)
set -euo pipefail
cd "$(dirname "$0")/.."

tests=OFF
[[ ${1:-} == --test ]] && tests=ON
bash third_party/install-deps.sh ${1:-}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPTHRUN_TESTS=$tests
cmake --build build -j "$(nproc)"
