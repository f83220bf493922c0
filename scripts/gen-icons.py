#!/usr/bin/env python3
"""Generate the icons in resources/. Standard library only; output is deterministic.

- Menu-bar icons: monochrome template PNGs (black + alpha, so macOS tints them for light and
  dark menu bars) for the running, stopped and error states. tray-icon draws a status item
  22 pt high, so the canvas is 22 pt (22x22 at 1x, 44x44 at 2x, no scaling) with the glyph
  GLYPH (16) pt across in the middle, the size of the system's own menu-bar glyphs.
- AppIcon.png: the 1024x1024 application icon (Big Sur grid: an 824 px rounded square on a
  transparent canvas) that packaging/macos/build-app.sh turns into AppIcon.icns.

    python3 scripts/gen-icons.py
"""

import math
import pathlib
import struct
import zlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
SIZE = 18.0  # shapes are described in this 18-unit design space (glyph 15.2 across)
C = SIZE / 2
CANVAS = 22.0  # points: the menu bar's status item height in tray-icon 0.26
GLYPH = 16.0  # points: how wide the glyph is drawn inside the canvas
DESIGN_GLYPH = 15.2  # the glyph's width in design units (the disc's diameter)


def ring(x, y, outer=7.6, inner=5.6):
    d = math.hypot(x - C, y - C)
    return inner <= d <= outer


def disc(x, y, r=7.6):
    return math.hypot(x - C, y - C) <= r


def arrow(x, y):
    """A right-pointing arrow: shaft plus head, centred."""
    shaft = 4.6 <= x <= 10.0 and abs(y - C) <= 1.1
    head = 9.0 <= x <= 13.4 and abs(y - C) <= (13.4 - x) * 0.95
    return shaft or head


def running(x, y):
    # A filled disc with the arrow cut out: traffic flows.
    return disc(x, y) and not arrow(x, y)


def stopped(x, y):
    # An empty ring: nothing flows.
    return ring(x, y)


def error(x, y):
    # A ring with an exclamation mark.
    bar = abs(x - C) <= 1.05 and 4.6 <= y <= 10.4
    dot = math.hypot(x - C, y - 12.9) <= 1.2
    return ring(x, y) or bar or dot


def on_canvas(shape):
    """The shape centred on the 22 pt canvas, scaled so the glyph is GLYPH pt across."""
    k = GLYPH / DESIGN_GLYPH

    def placed(x, y):
        return shape(C + (x - CANVAS / 2) / k, C + (y - CANVAS / 2) / k)

    return placed


def render(shape, px, size=CANVAS, n=4):
    scale = size / px
    # n x n supersampling for smooth edges
    rows = []
    for j in range(px):
        row = bytearray([0])  # filter type 0
        for i in range(px):
            hits = 0
            for sj in range(n):
                for si in range(n):
                    x = (i + (si + 0.5) / n) * scale
                    y = (j + (sj + 0.5) / n) * scale
                    hits += shape(x, y)
            alpha = round(255 * hits / (n * n))
            row += bytes([0, 0, 0, alpha])
        rows.append(bytes(row))
    return b"".join(rows)


def png(px, raw):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", px, px, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def app_icon(px=1024):
    """RGBA rows of the app icon: a blue rounded square with the running glyph in white."""
    scale = 1024 / px
    body, radius = (100, 924), 185  # the Big Sur icon grid on a 1024 canvas
    k = 560 / DESIGN_GLYPH  # the glyph is 560 px across

    def inside_body(x, y):
        lo, hi = body
        cx = min(max(x, lo + radius), hi - radius)
        cy = min(max(y, lo + radius), hi - radius)
        return lo <= x <= hi and lo <= y <= hi and math.hypot(x - cx, y - cy) <= radius

    def glyph(x, y):
        return running(C + (x - 512) / k, C + (y - 512) / k)

    n = 2
    rows = []
    for j in range(px):
        row = bytearray([0])
        for i in range(px):
            cover = white = 0
            for sj in range(n):
                for si in range(n):
                    x = (i + (si + 0.5) / n) * scale
                    y = (j + (sj + 0.5) / n) * scale
                    if inside_body(x, y):
                        cover += 1
                        white += glyph(x, y)
            samples = n * n
            if cover == 0:
                row += bytes(4)
                continue
            t = (j * scale - body[0]) / (body[1] - body[0])  # top-to-bottom gradient
            t = min(max(t, 0.0), 1.0)
            bg = (round(58 + (24 - 58) * t), round(123 + (64 - 123) * t), round(213 + (140 - 213) * t))
            w = white / cover
            rgb = bytes(round(c + (255 - c) * w) for c in bg)
            row += rgb + bytes([round(255 * cover / samples)])
        rows.append(bytes(row))
    return b"".join(rows)


def main():
    out = ROOT / "resources"
    for name, shape in [("tray", running), ("trayStopped", stopped), ("trayError", error)]:
        for suffix, px in [("", 22), ("@2x", 44)]:
            path = out / f"{name}Template{suffix}.png"
            path.write_bytes(png(px, render(on_canvas(shape), px)))
            print(path.relative_to(ROOT))
    path = out / "AppIcon.png"
    path.write_bytes(png(1024, app_icon(1024)))
    print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
