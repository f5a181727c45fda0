#!/usr/bin/env bash
# Installs the Debian packages Smolpix needs, only when they are missing (so a second run is instant).
# Usage: scripts/system-packages.sh [extra-package...]   e.g. chromium for the browser tests.
set -euo pipefail

missing=()

# ImageMagick with its MagickWand library (for Wand) and WebP + AVIF coders.
# /usr/bin/convert-im6.q16 is asked directly: another `convert` may come first on PATH.
imagemagick_ok() {
  dpkg -s libmagickwand-6.q16-6 imagemagick-6.q16 >/dev/null 2>&1 || return 1
  local formats
  formats=$(/usr/bin/convert-im6.q16 -list format 2>/dev/null) || return 1
  grep -qE '^ *WEBP\*? +WEBP +rw' <<<"$formats" && grep -qE '^ *AVIF\*? +HEIC +rw' <<<"$formats"
}
imagemagick_ok || missing+=(imagemagick libmagickwand-6.q16-6 libheif1 libwebp7)
# `python3 -m venv`, for the Makefile's .venv while there is none: Debian ships ensurepip, which it
# needs, in python3-venv.
[ -d .venv ] || python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)

for package in "$@"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done

[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing system packages: ${missing[*]}"
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "Please install as root: apt-get install ${missing[*]}" >&2; exit 1; }
  as_root=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || { "${as_root[@]}" apt-get update -qq && "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }

if ! imagemagick_ok; then
  echo "ImageMagick is installed but lacks WebP or AVIF support." >&2
  exit 1
fi
