#!/usr/bin/env bash
# Stop and remove the login job. A thin wrapper over `ai-proxy service uninstall`.
#   LABEL=com.yourcompany.ai-proxy  job label (default com.local.ai-proxy)
set -euo pipefail
. "$(dirname "$0")/common.sh"
bin="$(find_ai_proxy)"
exec "$bin" service uninstall --label "${LABEL:-com.local.ai-proxy}" "$@"
