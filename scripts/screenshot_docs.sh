#!/usr/bin/env bash
# Build the course HTML and take headless-browser screenshots of a few pages.
#   scripts/screenshot_docs.sh [OUT_DIR] [PAGE.html ...]
# Needs Debian's chromium (apt-get install -y chromium). Screenshots go to OUT_DIR/shots/.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-out/docs}"
shift || true
PAGES=("$@")
if [ ${#PAGES[@]} -eq 0 ]; then
  PAGES=(index.html course.primer.html layers.linear.html layers.attention.html
         layers.block.html course.gpt.html)
fi
BROWSER="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$BROWSER" ]; then
  echo "error: chromium not found (apt-get install -y chromium)" >&2
  exit 1
fi
if [ -z "${SKIP_BUILD:-}" ]; then
  python3 -m nanograd_llm docs --out "$OUT"
fi
mkdir -p "$OUT/shots"
PROFILE="$(mktemp -d)"
trap 'rm -rf "$PROFILE"' EXIT
for page in "${PAGES[@]}"; do
  shot="$OUT/shots/${page%.html}.png"
  "$BROWSER" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$PROFILE" --window-size="${WINDOW:-1400,1000}" \
    --screenshot="$(realpath -m "$shot")" "file://$(realpath "$OUT/$page")" >/dev/null 2>&1
  echo "$shot"
done
