#!/usr/bin/env python3
"""Generate the menu-bar icons in resources/: monochrome template PNGs (black + alpha, so
macOS tints them for light and dark menu bars) for the running, stopped and error states,
at 1x (18x18) and 2x (36x36). Standard library only; output is deterministic.

    python3 scripts/gen-icons.py
"""

import math
import pathlib
import struct
import zlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
SIZE = 18.0  # points; shapes are described in this coordinate space
C = SIZE / 2


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


def render(shape, px):
    scale = SIZE / px
    n = 4  # 4x4 supersampling for smooth edges
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


def main():
    out = ROOT / "resources"
    for name, shape in [("tray", running), ("trayStopped", stopped), ("trayError", error)]:
        for suffix, px in [("", 18), ("@2x", 36)]:
            path = out / f"{name}Template{suffix}.png"
            path.write_bytes(png(px, render(shape, px)))
            print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
