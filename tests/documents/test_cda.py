"""Structured (CDA R2) documents shown by Carnet (issue 16 item 5): the ANS examples of the CI-SIS
(tests/data/cda, their source in its README) come out as sections, paragraphs and table cells or
as the file a level-1 document wraps; whatever the XML says, the page Carnet writes from it runs
nothing, loads nothing and links nowhere."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from carnet.documents import cda
from carnet.portal.views.documents import StructuredView
from carnet.portal.web import environment
from tests.documents.samples import jpeg_bytes, png_bytes

DATA = Path(__file__).parent.parent / "data" / "cda"
BIO = "BIO-CR-BIO_2024.01_TSH_1.xml"
IMAGING = "IMG_CR_IMG_2024.01.xml"
IPS = "IPS-FR_2024.01.xml"
LEVEL1 = "DOC_NON_STRUCTURE_CDA-R2-N1.xml"
V3 = "urn:hl7-org:v3"


def fixture(name: str) -> bytes:
    return (DATA / name).read_bytes()


def render(found: cda.Cda | None, locale: str = "en") -> str:
    """The HTML the portal writes for `found` (the same macro as the document pages)."""
    template = environment(locale).from_string(
        '{% import "_cda.html" as c %}{{ c.view(v, "/documents/1/embedded") }}'
    )
    return template.render(v=StructuredView(found, ""))


def narrative(body: str, extra: str = "") -> bytes:
    """A minimal level-3 CDA whose one section's narrative is `body`."""
    return (
        f'<ClinicalDocument xmlns="{V3}"><title>Essai</title>'
        '<effectiveTime value="20240402111700+0100"/>'
        "<component><structuredBody><component><section><title>Section</title>"
        f"<text>{body}</text>{extra}</section></component></structuredBody></component>"
        "</ClinicalDocument>"
    ).encode()


def level1(media_type: str, payload: bytes, representation: str = "B64") -> bytes:
    data = base64.b64encode(payload).decode() if representation == "B64" else escape(payload.decode())
    return (
        f'<ClinicalDocument xmlns="{V3}"><title>Scan</title><component><nonXMLBody>'
        f'<text mediaType="{media_type}" representation="{representation}">{data}</text>'
        "</nonXMLBody></component></ClinicalDocument>"
    ).encode()


def media(ident: str, media_type: str, payload: bytes) -> str:
    encoded = base64.b64encode(payload).decode()
    return (
        f'<entry><observationMedia classCode="OBS" moodCode="EVN" ID="{ident}">'
        f'<value mediaType="{media_type}" representation="B64">{encoded}</value>'
        "</observationMedia></entry>"
    )


def titles(sections: tuple[cda.Section, ...]) -> list[str]:
    found: list[str] = []
    for section in sections:
        found.append(section.title)
        found.extend(titles(section.sections))
    return found


# -- the ANS examples ------------------------------------------------------------------------------


def test_lab_report_level3_sections_table_cells_and_header() -> None:
    found = cda.read(fixture(BIO))
    assert found is not None and found.level == 3
    assert titles(found.sections) == ["BIOCHIMIE", "Biochimie", "Copie du document"]
    assert found.header.title == "Compte rendu d'examens biologiques"
    assert found.header.custodian == "Laboratoire des charmes"
    assert found.header.authors and "CAMPARINI" in found.header.authors[0]
    assert str(found.header.effective) == "2021-04-01 17:10:00+01:00"
    page = render(found)
    assert '<th class="cda-bold">BILAN THYROIDIEN</th>' in page
    assert "<td>1.950 mUI/l</td>" in page
    assert "Thyroxine libre (FT4)" in page
    # The copy of the report as PDF is not shown inside the narrative, and says so.
    assert "A PDF attached to this document is not shown here" in page
    text = [line.text for line in cda.outline(found)]
    assert "Thyréostimuline (TSH) (ECL Modular) | 1.950 mUI/l | (0.270 - 4.200)" in text


def test_imaging_report_and_patient_summary_are_read() -> None:
    imaging = cda.read(fixture(IMAGING))
    assert imaging is not None and imaging.level == 3
    assert "Informations cliniques" in titles(imaging.sections)
    assert "patiente actuellement enceinte" in render(imaging)
    summary = cda.read(fixture(IPS))
    assert summary is not None and summary.level == 3
    assert {"Problèmes actifs", "Antécédents"} <= set(titles(summary.sections))
    assert "Thyroïdite auto-immune (CIM-10 : E06.3)" in render(summary)
    assert summary.header.title == "SYNTHESE MEDICALE"


def test_level1_yields_the_wrapped_pdf() -> None:
    found = cda.read(fixture(LEVEL1))
    assert found is not None and found.level == 1 and found.embedded is not None
    assert found.embedded.problem is None
    assert found.embedded.media_type == "application/pdf"
    assert len(PdfReader(io.BytesIO(found.embedded.data)).pages) >= 1
    page = render(found)
    assert '<iframe class="viewer" src="/documents/1/embedded"' in page
    assert found.header.custodian == "Laboratoire des charmes"


# -- level 1: what is shown, what is not ----------------------------------------------------------


def test_level1_accepts_pdf_images_and_text_only() -> None:
    for media_type, payload in (("image/png", png_bytes()), ("image/jpeg", jpeg_bytes())):
        found = cda.read(level1(media_type, payload))
        assert found is not None and found.embedded == cda.Embedded(media_type, payload)
    text = cda.read(level1("text/plain", b"Tension 12/8 <b>ok</b>", "TXT"))
    assert text is not None and text.embedded is not None
    assert "<pre class=\"cda-plain\">Tension 12/8 &lt;b&gt;ok&lt;/b&gt;</pre>" in render(text)
    for media_type, payload in (
        ("text/html", b"<script>alert(1)</script>"),
        ("image/svg+xml", b"<svg onload='alert(1)'/>"),
        ("application/msword", b"\xd0\xcf\x11\xe0"),
    ):
        found = cda.read(level1(media_type, payload))
        assert found is not None and found.embedded is not None
        assert found.embedded.problem == "unsupported-type" and not found.embedded.data
        assert "cannot be shown in the page" in render(found)


def test_level1_content_must_be_what_it_claims_and_not_too_large(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    html_as_png = cda.read(level1("image/png", b"\x89PNG\r\n\x1a\n<html><script>x</script>"))
    assert html_as_png is not None and html_as_png.embedded is not None
    assert html_as_png.embedded.problem == "unreadable"
    not_a_pdf = cda.read(level1("application/pdf", b"<html>"))
    assert not_a_pdf is not None and not_a_pdf.embedded is not None
    assert not_a_pdf.embedded.problem == "unreadable"
    monkeypatch.setattr(cda, "MAX_EMBEDDED_BYTES", 1000)
    big = cda.read(level1("application/pdf", b"%PDF-1.4\n" + b"0" * 2000))
    assert big is not None and big.embedded is not None
    assert big.embedded.problem == "too-large"


# -- what a document can never put in a page -----------------------------------------------------


def test_scripts_event_handlers_styles_and_links_are_dropped() -> None:
    body = (
        '<paragraph onload="steal()" style="position:fixed" styleCode="Bold xss">Bonjour</paragraph>'
        "<script>alert(1)</script>"
        '<linkHtml href="javascript:alert(2)" onclick="x()">cliquez ici</linkHtml>'
        '<table border="1" onmouseover="x()"><tbody><tr>'
        '<td colspan="2" rowspan="3 onclick=x()" style="color:red">cellule</td>'
        "</tr></tbody></table>"
        '<content xmlns:h="http://www.w3.org/1999/xhtml"><h:script>alert(3)</h:script>'
        '<h:img src="http://tracker.example/x.png"/>fin</content>'
    )
    page = render(cda.read(narrative(body)))
    assert '<p class="cda-bold">Bonjour</p>' in page
    assert '<td colspan="2">cellule</td>' in page
    assert "cliquez ici" in page
    lowered = page.lower()
    for forbidden in ("<script", "onload", "onclick", "onmouseover", "style=", "href",
                      "javascript:", "tracker.example", "alert(3)", "<a "):  # fmt: skip
        assert forbidden not in lowered, forbidden


def test_external_entities_doctypes_and_billion_laughs_are_refused() -> None:
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE ClinicalDocument [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&x;</title></ClinicalDocument>'
    )
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
            for i in range(1, 10)
        )
        + b']><ClinicalDocument xmlns="urn:hl7-org:v3"><title>&lol9;</title></ClinicalDocument>'
    )
    assert cda.read(xxe) is None
    assert cda.read(laughs) is None


def test_only_a_cda_r2_clinical_document_is_read() -> None:
    assert cda.read(b"<ClinicalDocument><title>x</title></ClinicalDocument>") is None  # no ns
    assert cda.read(b"%PDF-1.4 not xml") is None
    assert cda.read(narrative("x").replace(b"structuredBody", b"otherBody")) is None
    # A document that is a stylesheet carrying a CDA (self-presenting) is not one.
    wrapped = (
        b'<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0">'
        + narrative("x")
        + b"</xsl:stylesheet>"
    )
    assert cda.read(wrapped) is None


def test_render_multimedia_images_inline_only_when_embedded_png_or_jpeg() -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    extra = (
        media("img-1", "image/png", png_bytes())
        + media("img-2", "image/svg+xml", svg)
        + media("img-3", "image/png", b"<html>not a png</html>")
        + '<entry><observationMedia ID="img-4"><value mediaType="image/png">'
        '<reference value="http://tracker.example/a.png"/></value></observationMedia></entry>'
    )
    body = "".join(f'<renderMultiMedia referencedObject="img-{n}"/>' for n in range(1, 6))
    found = cda.read(narrative(body, extra))
    assert found is not None
    images = [i for i in found.sections[0].body if isinstance(i, cda.Image)]
    assert images == [cda.Image("image/png", png_bytes())]
    page = render(found)
    assert page.count("<img ") == 1
    assert f'src="data:image/png;base64,{base64.b64encode(png_bytes()).decode()}"' in page
    assert page.count("An attachment of this document cannot be shown here") == 4
    assert "tracker.example" not in page and "svg" not in page.lower()


def test_lists_captions_and_styles_become_carnets_elements() -> None:
    body = (
        '<list listType="ordered"><caption>Traitements</caption>'
        '<item><content styleCode="Italics Underline">Metformine</content> 500 mg</item>'
        "<item>Insuline<sub>1</sub><sup>2</sup></item></list>"
        '<list><item styleCode="Emphasis">puce</item></list>'
    )
    page = render(cda.read(narrative(body)))
    assert '<p class="cda-caption">Traitements</p><ol>' in page
    assert '<span class="cda-italics cda-underline">Metformine</span> 500 mg' in page
    assert "Insuline<sub>1</sub><sup>2</sup>" in page
    assert "<ul><li>puce</li></ul>" in page


def test_very_large_or_deep_narratives_are_cut_with_a_note(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deep = cda.read(narrative("<content>" * 200 + "fond" + "</content>" * 200))
    assert deep is not None
    assert "too long to be shown" in render(deep) and "fond" not in render(deep)
    monkeypatch.setattr(cda, "MAX_NODES", 50)
    wide = cda.read(narrative("<paragraph>ligne</paragraph>" * 500))
    assert wide is not None
    page = render(wide)
    assert 10 < page.count("<p>ligne</p>") <= 50
    assert page.count("too long to be shown") == 1


def test_timestamps() -> None:
    assert str(cda.timestamp("20240402")) == "2024-04-02"
    assert str(cda.timestamp("202404021117-0500")) == "2024-04-02 11:17:00-05:00"
    assert cda.timestamp("20241341") is None and cda.timestamp("hier") is None


# -- whatever the XML, the page is Carnet's --------------------------------------------------------

_NAMES = ("paragraph", "content", "br", "table", "thead", "tbody", "tr", "td", "th", "list",
          "item", "caption", "sub", "sup", "linkHtml", "renderMultiMedia", "footnote",
          "footnoteRef", "script", "a", "img", "iframe", "style", "object", "svg", "section",
          "title", "text", "col", "colgroup", "tfoot")  # fmt: skip
_ATTRS = ("onload", "onclick", "onerror", "style", "href", "src", "styleCode", "colspan",
          "rowspan", "ID", "referencedObject", "listType", "class", "xmlns:x", "formaction")  # fmt: skip
_VALUES = st.sampled_from(("javascript:alert(1)", '"><script>alert(1)</script>', "Bold",
                           "Italics xss", "2", "0", "999999", "ordered", "m1", "m2",
                           "data:text/html,<script>x</script>", "url(http://x)", "1 onclick=x"))  # fmt: skip
_TEXTS = st.one_of(
    st.sampled_from(("<script>alert(1)</script>", "javascript:x", "\" onmouseover=\"x", "&", "é")),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
)


def _xml_elements(depth: int) -> st.SearchStrategy[str]:
    attrs = st.dictionaries(st.sampled_from(_ATTRS), _VALUES, max_size=3)
    leaf = _TEXTS.map(escape)
    if depth == 0:
        return leaf

    def element(parts: tuple[str, dict[str, str], list[str], bool]) -> str:
        name, attributes, children, foreign = parts
        written = " ".join(
            f"{k}={quoteattr(v)}" for k, v in attributes.items() if k != "xmlns:x"
        )
        tag = f"x:{name}" if foreign else name
        ns = ' xmlns:x="http://www.w3.org/1999/xhtml"' if foreign else ""
        return f"<{tag}{ns} {written}>{''.join(children)}</{tag}>"

    return st.one_of(
        leaf,
        st.tuples(
            st.sampled_from(_NAMES), attrs, st.lists(_xml_elements(depth - 1), max_size=4),
            st.booleans(),
        ).map(element),
    )  # fmt: skip


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


_PAGE_TAGS = cda.TAGS | {"div", "section", "h3", "h4", "h5", "h6", "dl", "dt", "dd", "img"}
_MEDIA = media("m1", "image/png", png_bytes()) + media("m2", "image/svg+xml", b"<svg/>")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_xml_elements(4), max_size=5))
def test_whatever_the_xml_the_page_runs_nothing_and_links_nowhere(parts: list[str]) -> None:
    found = cda.read(narrative("".join(parts), _MEDIA))
    assert found is not None
    page = render(found)
    parser = _Tags()
    parser.feed(page)
    allowed_src = f"data:image/png;base64,{base64.b64encode(png_bytes()).decode()}"
    for tag, attrs in parser.tags:
        assert tag in _PAGE_TAGS, tag
        for name, value in attrs:
            assert not name.startswith("on") and name not in ("style", "href"), name
            if name == "src":
                assert tag == "img" and value == allowed_src
            if name in ("colspan", "rowspan"):
                assert value is not None and value.isdigit()
            if name == "class":
                assert value is not None
                assert set(value.split()) <= {*cda.STYLES.values(), "cda-caption", "cda-image",
                                              "cda-note", "cda", "cda-body", "cda-section",
                                              "cda-title", "cda-text", "document-meta",
                                              "cda-header"}  # fmt: skip
    assert "<script" not in page.lower()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_are_read_or_refused_never_an_error(content: bytes) -> None:
    found = cda.read(content)
    assert found is None or isinstance(found, cda.Cda)


def test_table_parts_and_items_out_of_place_keep_their_text_only() -> None:
    body = "<paragraph><td>cellule</td><item>puce</item><tr><th>entête</th></tr></paragraph>"
    page = render(cda.read(narrative(body)))
    assert "<p>cellulepuceentête</p>" in page
    for tag in ("<td", "<li", "<tr", "<th"):
        assert tag not in page
