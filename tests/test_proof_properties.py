"""Property-based proofs: whatever bytes arrive, the webhook parsers, the stream frame
decoder and the document importers answer with a result or their one clear rejection,
never another exception."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.channels import Platform
from common.protocol import Ack, ClientFrame, Hello, Ping, Pong, decode_client_frame, encode
from desktop.core.kb.documents import parse_file
from desktop.core.kb.errors import DocumentError
from relay.webhooks.fast import fast_meta
from relay.webhooks.meta import parse_meta
from relay.webhooks.parsing import ParseResult, PayloadError
from relay.webhooks.viber import parse_viber

#: Enough to find the shallow crashes in CI time; CLIENTORA_PROOF_EXAMPLES=20000 runs deeper.
#: (Per test, not a loaded profile: other tests' Hypothesis settings stay their own.)
EXAMPLES = int(os.environ.get("CLIENTORA_PROOF_EXAMPLES", "300"))
PROOF = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=25,
)
KEYS = st.sampled_from(
    [
        "id",
        "time",
        "messaging",
        "changes",
        "field",
        "value",
        "sender",
        "recipient",
        "timestamp",
        "message",
        "mid",
        "text",
        "attachments",
        "delivery",
        "read",
        "reaction",
        "postback",
        "is_echo",
        "metadata",
        "phone_number_id",
        "messages",
        "statuses",
        "contacts",
        "from",
        "type",
        "wa_id",
        "event",
        "message_token",
        "user",
        "user_id",
        "name",
        "media",
        "status",
        "watermark",
        "referral",
    ]
)
#: Objects with the keys the parsers look for, holding anything at all.
SHAPED = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=40,
)


def _resolve(platform: Platform, external_id: str) -> str | None:
    return f"channel-{platform}" if external_id else None


def _meta_body(kind: str, entries: Any) -> bytes:
    return json.dumps({"object": kind, "entry": entries}).encode()


def _parses_or_refuses_meta(body: bytes) -> None:
    fast = fast_meta(body, _resolve)  # the typed fast path: events, or None for the general
    assert fast is None or isinstance(fast, ParseResult)
    try:
        result = parse_meta(body, _resolve)
    except PayloadError:
        return
    assert isinstance(result, ParseResult)


def _parses_or_refuses_viber(body: bytes) -> None:
    try:
        result = parse_viber(body, "channel-viber")
    except PayloadError:
        return
    assert isinstance(result, ParseResult)


@PROOF
@given(st.binary(max_size=2048))
def test_meta_parser_takes_any_bytes(body: bytes) -> None:
    """Random bytes: an event list or PayloadError."""
    _parses_or_refuses_meta(body)


@PROOF
@given(
    st.sampled_from(["page", "instagram", "whatsapp_business_account", "user", ""]),
    st.lists(SHAPED, max_size=3),
)
def test_meta_parser_takes_any_shape_of_entries(kind: str, entries: list[Any]) -> None:
    """Meta's envelope around entries of any shape with the keys the parser reads."""
    _parses_or_refuses_meta(_meta_body(kind, entries))


@PROOF
@given(st.binary(max_size=2048))
def test_viber_parser_takes_any_bytes(body: bytes) -> None:
    """Random bytes: an event list or PayloadError."""
    _parses_or_refuses_viber(body)


@PROOF
@given(
    st.sampled_from(
        [
            "message",
            "delivered",
            "seen",
            "failed",
            "subscribed",
            "unsubscribed",
            "conversation_started",
            "webhook",
            "other",
        ]
    ),
    st.dictionaries(KEYS, SHAPED, max_size=8),
)
def test_viber_parser_takes_any_shape_of_callback(event: str, fields: dict[str, Any]) -> None:
    """A callback naming any event, with fields of any shape."""
    _parses_or_refuses_viber(json.dumps({**fields, "event": event}).encode())


@PROOF
@given(st.integers(min_value=1, max_value=200_000))
def test_parsers_refuse_any_depth_of_nesting(depth: int) -> None:
    """Arrays nested to any depth, even past the recursion limit, are a PayloadError."""
    body = b'{"object":"page","entry":' + b"[" * depth + b"]" * depth + b"}"
    _parses_or_refuses_meta(body)
    _parses_or_refuses_viber(b'{"event":"message","message":' + b"[" * depth + b"]" * depth + b"}")


# ---- the stream protocol ------------------------------------------------------------------


def _decodes_or_refuses(raw: bytes | str) -> ClientFrame | None:
    try:
        return decode_client_frame(raw)
    except msgspec.DecodeError:
        return None


@PROOF
@given(st.binary(max_size=512))
def test_client_frames_from_any_bytes(raw: bytes) -> None:
    """Any bytes: a frame or DecodeError."""
    _decodes_or_refuses(raw)


@PROOF
@given(
    st.sampled_from(["hello", "ack", "ping", "pong", "event", ""]),
    st.dictionaries(
        st.sampled_from(["device_id", "cursor", "protocol", "seq", "nonce", "x"]), JSON, max_size=4
    ),
)
def test_client_frames_of_any_shape(tag: str, fields: dict[str, Any]) -> None:
    """Every tag with fields of any type and size: a frame whose numbers fit 64 bits
    (what the stores hold), or DecodeError."""
    frame = _decodes_or_refuses(json.dumps({**fields, "type": tag}))
    for name in ("cursor", "seq"):
        value = getattr(frame, name, 0)
        assert 0 <= value < 2**63


@PROOF
@given(st.integers(min_value=1, max_value=200_000))
def test_client_frames_nested_to_any_depth(depth: int) -> None:
    """Nesting past the recursion limit is a DecodeError like any other bad frame."""
    assert _decodes_or_refuses(
        b'{"type":"ack","seq":1,"x":' + b"[" * depth + b"]" * depth + b"}"
    ) in (
        None,
        Ack(seq=1),
    )


FRAMES = st.one_of(
    st.builds(
        Hello,
        device_id=st.text(max_size=40),
        cursor=st.integers(0, 2**63 - 1),
        protocol=st.integers(-(2**63), 2**63 - 1),
    ),
    st.builds(Ack, seq=st.integers(0, 2**63 - 1)),
    st.builds(Ping, nonce=st.integers(-(2**63), 2**63 - 1)),
    st.builds(Pong, nonce=st.integers(-(2**63), 2**63 - 1)),
)


@PROOF
@given(FRAMES)
def test_every_valid_frame_survives_the_wire(frame: ClientFrame) -> None:
    """What a desktop encodes, the relay decodes to the same frame."""
    assert decode_client_frame(encode(frame)) == frame


# ---- the document importers -----------------------------------------------------------------


def _docx_bytes() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Orari", level=1)
    document.add_paragraph("Jemi hapur çdo ditë 08:00–22:00.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "E diel"
    table.rows[0].cells[1].text = "10:00–18:00"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _pdf_bytes() -> bytes:
    """A one-page PDF with a text layer, written by hand (no PDF writer is installed)."""
    stream = b"BT /F1 12 Tf 72 720 Td (Hours: 08:00-22:00) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


SEEDS = {".docx": _docx_bytes(), ".pdf": _pdf_bytes()}


def _imports_or_refuses(folder: Path, suffix: str, data: bytes) -> None:
    path = folder / f"document{suffix}"
    path.write_bytes(data)
    refusal = ""
    try:
        parsed = parse_file(path)
    except DocumentError as exc:
        refusal = str(exc)
    if refusal:
        return
    assert any(block.kind == "para" for block in parsed.blocks)


def test_the_seed_documents_import(tmp_path: Path) -> None:
    """The unmutated seeds are real documents (so the mutations start from one)."""
    for suffix, data in SEEDS.items():
        path = tmp_path / f"seed{suffix}"
        path.write_bytes(data)
        assert parse_file(path).blocks


@pytest.mark.parametrize("suffix", [".txt", ".md", ".html", ".pdf", ".docx"])
@settings(PROOF, max_examples=max(100, EXAMPLES // 3))
@given(data=st.binary(min_size=1, max_size=4096))
def test_any_bytes_import_or_are_refused(tmp_path: Path, suffix: str, data: bytes) -> None:
    """Random bytes under every supported extension: a document or DocumentError."""
    _imports_or_refuses(tmp_path, suffix, data)


@pytest.mark.parametrize("suffix", [".pdf", ".docx"])
@settings(PROOF, max_examples=max(150, EXAMPLES // 2))
@given(st.data())
def test_damaged_documents_import_or_are_refused(
    tmp_path: Path, suffix: str, data: st.DataObject
) -> None:
    """A real PDF or Word file with bytes overwritten, cut short or spliced: a document
    or DocumentError."""
    seed = bytearray(SEEDS[suffix])
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(seed) - 1))
        seed[at : at + 4] = data.draw(st.binary(min_size=0, max_size=4))
    if data.draw(st.booleans()):
        seed = seed[: data.draw(st.integers(1, len(seed)))]
    _imports_or_refuses(tmp_path, suffix, bytes(seed))


@settings(PROOF, max_examples=max(60, EXAMPLES // 5))
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["word/document.xml", "[Content_Types].xml", "x"]),
            st.binary(max_size=300),
        ),
        max_size=3,
        unique_by=lambda member: member[0],
    )
)
def test_any_zip_named_docx_imports_or_is_refused(
    tmp_path: Path, members: list[tuple[str, bytes]]
) -> None:
    """A zip with arbitrary members (a broken or hostile .docx): a document or DocumentError."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, body in members:
            archive.writestr(name, body)
    _imports_or_refuses(tmp_path, ".docx", out.getvalue())
