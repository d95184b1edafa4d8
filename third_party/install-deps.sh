#!/usr/bin/env bash
# Installs pthrun's dependencies from Debian's packages, only those that are missing, so that
# a machine that has everything makes no network call.
#
#   third_party/install-deps.sh          what building and running pthrun needs
#   third_party/install-deps.sh --test   plus what the test suite needs
#   third_party/install-deps.sh --train  plus the text tools/train_tiny_gpt2.py trains on
#
# The CUDA toolkit is not installed here: pthrun builds its CUDA backend when the toolkit is
# on the machine (nvcc on PATH), and runs on the CPU otherwise.
set -euo pipefail

packages=(cmake g++ make pkg-config libzip-dev zlib1g-dev libopenblas-dev libcli11-dev
          libcpp-httplib-dev nlohmann-json3-dev libdeflate-dev)
if [[ ${1:-} == --test ]]; then
  # doctest for the suites; real PyTorch and NumPy, which tests use as references where they
  # are importable (reading files pthrun writes); rsvg-convert to render charts as PNG.
  packages+=(doctest-dev python3-torch python3-numpy librsvg2-bin)
  # pthrun serve's tests: curl and headless Chromium as clients, and a venv for the openai
  # package (PyPI), which Debian does not ship.
  packages+=(curl chromium python3-venv)
fi
if [[ ${1:-} == --train ]]; then
  # PyTorch, and Python's documentation sources as openly licensed English text (PSF License).
  packages+=(python3-torch python3.11-doc)
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

# The openai Python package for pthrun serve's tests, in a venv of its own (Debian's pip will not
# install into the system Python): tests/test_serve.py finds it there.
if [[ ${1:-} == --test ]]; then
  venv=${PTHRUN_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/pthrun/venv}
  if ! "$venv/bin/python" -c "import openai" 2>/dev/null; then
    echo "installing the openai package into $venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q openai
  fi
fi
