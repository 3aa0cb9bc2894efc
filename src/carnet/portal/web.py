"""Rendering portal pages: Jinja2 environments per language, the page context, form errors.

Templates are autoescaped; gettext is installed with Jinja's i18n extension (new style, so `%`
formatting is done by gettext itself); dates, numbers and sizes go through `i18n.Formatter`.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.routing import NoMatchFound

from carnet.auth import sessions as sessions
from carnet.auth.principal import PrincipalKind
from carnet.config import Settings
from carnet.portal import csrf, i18n
from carnet.portal.i18n import N_, Formatter
from carnet.portal.messages import flash
from carnet.vault.service import Vault

TEMPLATES_DIR = Path(__file__).parent / "templates"

# Optional pages built by other packages: shown in the navigation only when their route exists.
OPTIONAL_NAV = (
    ("portal_medical_profile", N_("Medical profile")),
    ("portal_timeline", N_("My health story")),
    ("portal_messages", N_("Messaging")),
    ("portal_agenda", N_("Agenda")),
    ("portal_professionals", N_("My professionals")),
    ("portal_history", N_("History")),
    ("portal_export", N_("Download my data")),
    ("portal_apps", N_("Connected apps")),
)


class PortalRedirect(Exception):
    """Stop here and send the browser to `location` (303), optionally with a flash message."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def vault_of(request: Request) -> Vault:
    vault: Vault = request.app.state.vault
    return vault


def formatter(request: Request) -> Formatter:
    found: Formatter | None = getattr(request.state, "portal_formatter", None)
    if found is None:
        found = Formatter(i18n.negotiate(request), settings_of(request).timezone)
        request.state.portal_formatter = found
    return found


@functools.cache
def environment(locale: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=jinja2.select_autoescape(("html",), default_for_string=True, default=True),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(locale), newstyle=True)  # type: ignore[attr-defined]
    return env


def url(request: Request, name: str, **params: Any) -> str:
    return str(request.app.url_path_for(name, **{k: str(v) for k, v in params.items()}))


def has_route(request: Request, name: str) -> bool:
    try:
        request.app.url_path_for(name)
    except NoMatchFound:
        return False
    return True


def local_path(value: str | None, default: str = "/") -> str:
    """A same-site path to go back to (no scheme, no host, no `//`): never an open redirect."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value[:500]


@dataclass
class FormErrors:
    """Errors of a form, by field (the empty string is for the form as a whole)."""

    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def add(self, name: str | None, message: str) -> None:
        if name:
            self.fields.setdefault(name, message)
        else:
            self.general.append(message)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)


@dataclass
class Shell:
    """What the layout shows about the signed-in person and the space acted on."""

    signed_in: bool = False
    space_name: str = ""
    relation: str = "self"
    acting_space_id: uuid.UUID | None = None
    profiles: list[dict[str, Any]] = field(default_factory=list)
    show_close: bool = False
    # A professional's (or regulator's) session: the professional navigation, no holder space.
    professional: bool = False


def _default_shell(live: sessions.LiveSession | None) -> Shell:
    if live is None:
        return Shell()
    if live.principal.kind in (PrincipalKind.PROFESSIONAL, PrincipalKind.REGULATOR):
        return Shell(signed_in=True, professional=True)
    return Shell(signed_in=True)


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    title: str,
    status: int = 200,
    shell: Shell | None = None,
    errors: FormErrors | None = None,
    flash_key: str | None = None,
) -> HTMLResponse:
    """Render `template` with the layout's context; `title` is translated already, and never
    carries personal or health data."""
    fmt = formatter(request)
    live = sessions.current(request)
    nav_extra = [
        {"name": name, "label": fmt.gettext(label), "href": url(request, name)}
        for name, label in OPTIONAL_NAV
        if has_route(request, name)
    ]
    data: dict[str, Any] = {
        "request": request,
        "locale": fmt.locale,
        "fmt": fmt,
        "title": title,
        "csrf_field": csrf.FIELD,
        "csrf_token": csrf.token_for(request),
        "shell": shell or _default_shell(live),
        "nav_extra": nav_extra,
        "path": request.url.path,
        "here": local_path(
            request.url.path + (f"?{request.url.query}" if request.url.query else "")
        ),
        "url": functools.partial(url, request),
        "errors": errors or FormErrors(),
        "flash": flash(flash_key or (live.flash if live else None), fmt),
        "max_upload_bytes": settings_of(request).max_upload_bytes,
        "locales": [(code, fmt.language_name(code)) for code in i18n.LOCALES],
    }
    data.update(context or {})
    html = environment(fmt.locale).get_template(template).render(data)
    response = HTMLResponse(html, status_code=status)
    response.headers["Content-Language"] = fmt.locale
    return response


def redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)
