#!/usr/bin/env bash
# Install and start the login job (LaunchAgent on macOS, systemd user unit on Linux).
# A thin wrapper over `ai-proxy service install`; extra arguments are passed through.
#   LABEL=com.yourcompany.ai-proxy  job label (default com.local.ai-proxy)
#   MODE=tray|serve                 what runs at login (default: tray when built with it)
#   PROJECT_DIR=/path/to/project    use PROJECT_DIR/config.yaml (as the seed's script did)
set -euo pipefail
. "$(dirname "$0")/common.sh"
bin="$(find_ai_proxy)"
args=(service install --label "${LABEL:-com.local.ai-proxy}")
[ -n "${MODE:-}" ] && args+=(--mode "$MODE")
[ -n "${PROJECT_DIR:-}" ] && args+=(--config "$PROJECT_DIR/config.yaml")
exec "$bin" "${args[@]}" "$@"
