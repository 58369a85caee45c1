#!/usr/bin/env bash
# System libraries that pip cannot provide. open3d links libusb-1.0 at import time.
set -euo pipefail
if ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "fervlm: installing libusb-1.0-0 (needed by open3d) with apt-get"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libusb-1.0-0 >/dev/null
  exit 0
fi
echo "fervlm: open3d needs the system library libusb-1.0-0, which is missing. Install it with:" >&2
echo "    sudo apt-get install libusb-1.0-0" >&2
exit 1
