"""A window showing the knowledge a draft cited: the item's title, text and where it came from."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTextBrowser, QVBoxLayout, QWidget

from desktop.core.kb.models import ItemInfo, SearchHit
from desktop.ui.widgets.common import label

__all__ = ["SourceDialog", "item_kind"]

_KINDS = {"faq": "FAQ", "offer": "Offer", "document": "Document", "web": "Web page"}


def item_kind(item_type: str) -> str:
    return _KINDS.get(item_type, item_type.title())


class SourceDialog(QDialog):
    """Read-only view of one knowledge item (and, when known, the exact passage used)."""

    def __init__(
        self,
        item: ItemInfo | None,
        hit: SearchHit | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Source")
        self.setMinimumSize(480, 340)
        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        if item is None and hit is None:
            layout.addWidget(
                label("This knowledge was removed or changed since the draft.", "muted", wrap=True)
            )
        else:
            title = item.title if item is not None else hit.title if hit else ""
            kind = item_kind(item.item_type if item is not None else hit.item_type if hit else "")
            layout.addWidget(label(kind, "section"))
            heading = label(title, "heading", wrap=True, selectable=True)
            layout.addWidget(heading)
            facts: list[str] = []
            if item is not None:
                if item.price:
                    facts.append(f"Price: {item.price}")
                if item.valid_from or item.valid_until:
                    start = item.valid_from.isoformat() if item.valid_from else "now"
                    end = item.valid_until.isoformat() if item.valid_until else "no end"
                    facts.append(f"Valid {start} – {end}")
                if item.source:
                    facts.append(f"From {item.source}")
            if hit is not None and hit.page:
                facts.append(f"Page {hit.page}")
            if hit is not None and hit.heading_path:
                facts.append(" › ".join(hit.heading_path))
            if facts:
                layout.addWidget(label(" · ".join(facts), "muted", wrap=True, selectable=True))
            body = QTextBrowser()
            body.setOpenExternalLinks(True)
            text = hit.text if hit is not None else ""
            if not text and item is not None:
                text = item.text
                if item.alternatives:
                    text += "\n\nAlso asked as:\n" + "\n".join(f"• {a}" for a in item.alternatives)
            body.setPlainText(text or "(This item's text is kept in its sections only.)")
            layout.addWidget(body, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def message(self) -> QLabel | None:
        """The first label (for tests that check what the dialog says)."""
        return self.findChild(QLabel)
