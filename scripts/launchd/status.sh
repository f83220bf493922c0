#!/usr/bin/env bash
# Show whether the login job is installed and running (exit 0 running, 3 not running).
# A thin wrapper over `ai-proxy service status`.
#   LABEL=com.yourcompany.ai-proxy  job label (default com.local.ai-proxy)
set -euo pipefail
. "$(dirname "$0")/common.sh"
bin="$(find_ai_proxy)"
exec "$bin" service status --label "${LABEL:-com.local.ai-proxy}" "$@"
