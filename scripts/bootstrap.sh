#!/usr/bin/env bash
# One-shot set-up for a new user: install the ai-proxy binary (built from this checkout),
# then run its setup wizard. Arguments go to `ai-proxy setup` (e.g. --answers FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX="${AI_PROXY_PREFIX:-$HOME/.local}"
if ! command -v cargo >/dev/null; then
    echo "error: building ai-proxy needs Rust: install it from https://rustup.rs, then re-run $0" >&2
    exit 1
fi
echo "==> building and installing ai-proxy into $PREFIX/bin (a few minutes the first time)"
cargo install --locked --quiet --path . --root "$PREFIX"
case ":$PATH:" in
    *":$PREFIX/bin:"*) ;;
    *) echo "note: add $PREFIX/bin to your PATH to run \`ai-proxy\` directly" ;;
esac
exec "$PREFIX/bin/ai-proxy" setup "$@"
