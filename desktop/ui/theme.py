"""Light and dark looks: a Fusion palette per scheme and one style sheet with its colours."""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QFontDatabase, QPalette
from PySide6.QtWidgets import QApplication

from desktop.ui.icons import svg_bytes

__all__ = ["DARK", "LIGHT", "Colors", "Scheme", "apply_theme", "is_dark", "mix"]

Scheme = Literal["light", "dark", "system"]


@dataclass(frozen=True, slots=True)
class Colors:
    """The colours of one scheme; the style sheet names them ``@field@``."""

    window: str
    sidebar: str
    base: str
    alt: str
    text: str
    muted: str
    border: str
    hover: str
    accent: str
    accent_text: str
    accent_soft: str
    danger: str
    danger_soft: str
    warning: str
    warning_soft: str
    success: str
    success_soft: str
    bubble_out: str
    bubble_in: str
    control: str


LIGHT = Colors(
    window="#f5f6f8",
    sidebar="#eceef2",
    base="#ffffff",
    alt="#f0f2f5",
    text="#1b2129",
    muted="#5c6877",
    border="#d9dee5",
    hover="#e6e9ee",
    accent="#0d8478",
    accent_text="#ffffff",
    accent_soft="#d7f0ec",
    danger="#c62f3c",
    danger_soft="#fbe3e5",
    warning="#a86200",
    warning_soft="#fdf0d8",
    success="#1e7d43",
    success_soft="#dcf3e4",
    bubble_out="#d6efe9",
    bubble_in="#f0f2f5",
    control="#a9b2be",
)

DARK = Colors(
    window="#15181c",
    sidebar="#111316",
    base="#1c2025",
    alt="#242930",
    text="#e5e8ec",
    muted="#9aa4b1",
    border="#30363e",
    hover="#2a3038",
    accent="#2bbfab",
    accent_text="#06201c",
    accent_soft="#173a36",
    danger="#f0707b",
    danger_soft="#3d1e22",
    warning="#f1b45a",
    warning_soft="#3a2c16",
    success="#5fd08a",
    success_soft="#173424",
    bubble_out="#1b4740",
    bubble_in="#262c34",
    control="#59626d",
)


def mix(a: QColor, b: QColor, t: float) -> QColor:
    """The colour ``t`` of the way from ``a`` to ``b``."""
    return QColor.fromRgbF(
        a.redF() + (b.redF() - a.redF()) * t,
        a.greenF() + (b.greenF() - a.greenF()) * t,
        a.blueF() + (b.blueF() - a.blueF()) * t,
        1.0,
    )


def is_dark(palette: QPalette) -> bool:
    """Whether ``palette`` is a dark one (light text on a dark window)."""
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def _palette(c: Colors) -> QPalette:
    p = QPalette()
    role = QPalette.ColorRole
    group = QPalette.ColorGroup
    values = {
        role.Window: c.window,
        role.WindowText: c.text,
        role.Base: c.base,
        role.AlternateBase: c.alt,
        role.ToolTipBase: c.base,
        role.ToolTipText: c.text,
        role.PlaceholderText: c.muted,
        role.Text: c.text,
        role.Button: c.base,
        role.ButtonText: c.text,
        role.BrightText: c.danger,
        role.Highlight: c.accent,
        role.HighlightedText: c.accent_text,
        role.Link: c.accent,
        role.LinkVisited: c.accent,
        role.Light: c.base,
        role.Midlight: c.alt,
        role.Mid: c.border,
        role.Dark: c.border,
        role.Shadow: "#000000",
    }
    for r, value in values.items():
        p.setColor(r, QColor(value))
    disabled = mix(QColor(c.muted), QColor(c.window), 0.35)
    for r in (role.WindowText, role.Text, role.ButtonText):
        p.setColor(group.Disabled, r, disabled)
    p.setColor(group.Disabled, role.Base, QColor(c.alt))
    p.setColor(group.Disabled, role.Button, QColor(c.alt))
    p.setColor(group.Inactive, role.Highlight, QColor(c.accent))
    p.setColor(group.Inactive, role.HighlightedText, QColor(c.accent_text))
    return p


def _indicator_images(c: Colors) -> dict[str, str]:
    """Check mark and drop-down arrow as files: style sheets can only load images by path."""
    folder = Path(tempfile.gettempdir()) / "clientora-ui"
    folder.mkdir(exist_ok=True)
    images = {"check": ("tick", c.accent_text), "chevron": ("chevron-down", c.muted)}
    paths: dict[str, str] = {}
    for key, (name, color) in images.items():
        path = folder / f"{name}-{color.lstrip('#')}.svg"
        if not path.exists():
            data = (
                svg_bytes(name)
                .replace(b"#COLOR#", color.encode())
                .replace(b'stroke-width="1.8"', b'stroke-width="3"')
            )
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        paths[key] = path.as_posix()
    return paths


def style_sheet(c: Colors) -> str:
    """The app's style sheet with ``@colour@`` names replaced by this scheme's values."""
    text = resources.files("resources").joinpath("ui", "style.qss").read_text(encoding="utf-8")
    for name, value in {**asdict(c), **_indicator_images(c)}.items():
        text = text.replace(f"@{name}@", value)
    return text


def _system_is_dark(app: QApplication) -> bool:
    return app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def apply_theme(app: QApplication, scheme: Scheme = "system") -> Colors:
    """Give ``app`` the Fusion style, this scheme's palette, style sheet and font."""
    dark = scheme == "dark" or (scheme == "system" and _system_is_dark(app))
    colors = DARK if dark else LIGHT
    app.setStyle("Fusion")
    app.setPalette(_palette(colors))
    # Inter reads well at small sizes; platforms without it keep their own UI font.
    if "Inter" in QFontDatabase.families():
        font = QFont("Inter")
        font.setPointSizeF(10)
        app.setFont(font)
    app.setStyleSheet(style_sheet(colors))
    app.setProperty("clientoraDark", dark)
    return colors
