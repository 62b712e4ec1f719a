"""A notification's words: its Jinja2 template (templates/<kind>.j2, with blocks `subject`,
`body` and `link_label`) rendered twice, as plain text and as HTML (escaped), inside the
common layouts. The values are already formatted for reading (domain.rubles, long_date)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

TEMPLATES = Path(__file__).resolve().parent / "templates"
FOOTER = "Настроить, какие письма приходят, можно в личном кабинете, раздел «Уведомления»."


@dataclass(frozen=True)
class Letter:
    subject: str
    text: str  # the plain-text part, and the in-app text
    html: str
    body: str  # the message without greeting and footer (for the cabinet's list)


@cache
def _environment(html: bool) -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=html,
        undefined=StrictUndefined,  # a missing value is a bug, not an empty word
        keep_trailing_newline=False,
    )


def _block(template, name: str, context: dict) -> str:
    return "".join(template.blocks[name](template.new_context(context))).strip()


def render(kind: str, context: dict, greeting: str, link: str | None) -> Letter:
    text_template = _environment(False).get_template(f"{kind}.j2")
    subject = " ".join(_block(text_template, "subject", context).split())
    body = _block(text_template, "body", context)
    link_label = _block(text_template, "link_label", context)
    common = {
        "subject": subject,
        "greeting": greeting,
        "link": link,
        "link_label": link_label,
        "footer": FOOTER,
    }
    text = _environment(False).get_template("layout.txt.j2").render(body=body, **common)
    html_template = _environment(True).get_template(f"{kind}.j2")
    html_body = _block(html_template, "body", context)  # escaped values
    paragraphs = [Markup(part.strip()) for part in html_body.split("\n\n") if part.strip()]
    html = _environment(True).get_template("layout.html.j2").render(paragraphs=paragraphs, **common)
    return Letter(subject, text.strip() + "\n", html, body)


def kinds_with_templates() -> set[str]:
    return {path.name.removesuffix(".j2") for path in TEMPLATES.glob("*.j2")} - {
        "layout.txt",
        "layout.html",
    }
