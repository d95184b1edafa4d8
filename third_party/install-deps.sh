#!/usr/bin/env bash
# Installs pthrun's dependencies from Debian's packages, only those that are missing, so that
# a machine that has everything makes no network call.
#
#   third_party/install-deps.sh          what building and running pthrun needs
#   third_party/install-deps.sh --test   plus what the test suite needs
#
# The CUDA toolkit is not installed here: pthrun builds its CUDA backend when the toolkit is
# on the machine (nvcc on PATH), and runs on the CPU otherwise.
set -euo pipefail

packages=(cmake g++ make pkg-config libzip-dev zlib1g-dev libopenblas-dev nlohmann-json3-dev libdeflate-dev)
if [[ ${1:-} == --test ]]; then
  # doctest for the suites; real PyTorch and NumPy, which tests use as references where they
  # are importable (reading files pthrun writes); rsvg-convert to render charts as PNG.
  packages+=(doctest-dev python3-torch python3-numpy librsvg2-bin)
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
