#!/usr/bin/env bash
# Assemble "AI Proxy.app" (a menu-bar app: LSUIElement, no Dock icon; Info.plist from the
# repository root) from a release build with the `tray` feature. On macOS the app icon
# (Resources/AppIcon.icns, CFBundleIconFile) is made from resources/AppIcon.png with sips and
# iconutil; elsewhere the bundle has no app icon. On a Mac with both Apple
# targets installed (rustup target add aarch64-apple-darwin x86_64-apple-darwin) the binary is
# universal (lipo); otherwise it is built for the installed target or the host.
#
#   packaging/macos/build-app.sh [--out DIR] [--binary PATH]
#
#   --out DIR      where the bundle goes (default target/macos)
#   --binary PATH  package this binary instead of building (any OS; CI on Linux uses it to
#                  check the bundle layout)
#
# Optional signing and notarization (macOS, after assembling):
#   CODESIGN_IDENTITY="Developer ID Application: Your Name (TEAMID)"
#       signs with the hardened runtime (otherwise the bundle is signed ad hoc on macOS);
#   NOTARY_PROFILE=name   (created once with `xcrun notarytool store-credentials name`)
#       submits a zip to Apple's notary service, waits, and staples the ticket.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/target/macos"
binary=""
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="$2"; shift 2 ;;
        --binary) binary="$2"; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
mkdir -p "$out"
out="$(cd "$out" && pwd)"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)"
[ -n "$version" ] || { echo "error: no version in Cargo.toml" >&2; exit 1; }
darwin=false
[ "$(uname -s)" = Darwin ] && darwin=true

if [ -z "$binary" ]; then
    $darwin || { echo "error: building the app needs macOS (or pass --binary PATH)" >&2; exit 1; }
    export MACOSX_DEPLOYMENT_TARGET=11.0
    installed="$(rustup target list --installed 2>/dev/null || true)"
    built=()
    for target in aarch64-apple-darwin x86_64-apple-darwin; do
        if grep -qx "$target" <<<"$installed"; then
            (cd "$root" && cargo build --release --locked --features tray --target "$target")
            built+=("$root/target/$target/release/ai-proxy")
        fi
    done
    if [ "${#built[@]}" -eq 2 ]; then
        lipo -create -output "$out/ai-proxy" "${built[@]}"
        binary="$out/ai-proxy"
    elif [ "${#built[@]}" -eq 1 ]; then
        binary="${built[0]}"
    else
        (cd "$root" && cargo build --release --locked --features tray)
        binary="$root/target/release/ai-proxy"
    fi
fi
[ -x "$binary" ] || { echo "error: $binary is not an executable" >&2; exit 1; }

app="$out/AI Proxy.app"
rm -rf "$app"
mkdir -p "$app/Contents/MacOS" "$app/Contents/Resources"
cp "$binary" "$app/Contents/MacOS/ai-proxy"
chmod 755 "$app/Contents/MacOS/ai-proxy"
sed "s/__VERSION__/$version/g" "$root/Info.plist" > "$app/Contents/Info.plist"
printf 'APPL????' > "$app/Contents/PkgInfo"
cp "$root"/resources/tray*Template*.png "$app/Contents/Resources/"
if $darwin; then
    iconset="$out/AppIcon.iconset"
    rm -rf "$iconset"
    mkdir -p "$iconset"
    for size in 16 32 128 256 512; do
        sips -z "$size" "$size" "$root/resources/AppIcon.png" --out "$iconset/icon_${size}x${size}.png" >/dev/null
        double=$((size * 2))
        sips -z "$double" "$double" "$root/resources/AppIcon.png" --out "$iconset/icon_${size}x${size}@2x.png" >/dev/null
    done
    iconutil -c icns "$iconset" -o "$app/Contents/Resources/AppIcon.icns"
    rm -rf "$iconset"
else
    echo "note: no AppIcon.icns (sips and iconutil are macOS tools): this bundle has no app icon" >&2
fi

if $darwin; then
    plutil -lint "$app/Contents/Info.plist"
    if [ -n "${CODESIGN_IDENTITY:-}" ]; then
        codesign --force --options runtime --timestamp --sign "$CODESIGN_IDENTITY" "$app"
    else
        codesign --force --sign - "$app"
    fi
    codesign --verify --strict --verbose=2 "$app"
    zip="$out/AI-Proxy-$version.zip"
    rm -f "$zip"
    ditto -c -k --keepParent "$app" "$zip"
    if [ -n "${NOTARY_PROFILE:-}" ]; then
        [ -n "${CODESIGN_IDENTITY:-}" ] || { echo "error: notarization needs CODESIGN_IDENTITY" >&2; exit 1; }
        xcrun notarytool submit "$zip" --keychain-profile "$NOTARY_PROFILE" --wait
        xcrun stapler staple "$app"
        rm -f "$zip"
        ditto -c -k --keepParent "$app" "$zip"
    fi
    echo "$zip"
fi
echo "$app"
