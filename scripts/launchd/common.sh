# Shared by install.sh / uninstall.sh / status.sh: find the ai-proxy binary.
# Order: $AI_PROXY_BIN, `ai-proxy` on PATH, this checkout's release then debug build,
# then the app bundle in /Applications.
find_ai_proxy() {
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    for candidate in \
        "${AI_PROXY_BIN:-}" \
        "$(command -v ai-proxy 2>/dev/null || true)" \
        "$root/target/release/ai-proxy" \
        "$root/target/debug/ai-proxy" \
        "/Applications/AI Proxy.app/Contents/MacOS/ai-proxy"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    echo "error: ai-proxy not found: build it (cargo build --release --features tray) or set AI_PROXY_BIN" >&2
    return 1
}
