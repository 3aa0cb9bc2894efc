"""Demo content for the services of a space (SRV-1, SRV-2, SRV-3): one listed app, an upcoming
appointment and a conversation opened by the family's GP, so every page has something to show."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts.models import Holder, Professional
from carnet.agenda import service as agenda
from carnet.agenda.models import Appointment
from carnet.apps import service as apps
from carnet.apps.models import App
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.messaging import conversations
from carnet.messaging.context import Context, NewConversation, NewMessage
from carnet.messaging.models import Conversation
from carnet.vault.service import Vault

DEMO_APP = "demo-tension"
DEMO_APP_REDIRECT = "http://127.0.0.1:9000/callback"


def add_demo_services(
    session: Session,
    vault: Vault,
    settings: Settings,
    holders: dict[str, Holder],
    professionals: dict[str, Professional],
) -> None:
    """Idempotent: each piece is added only when the space has none of its kind yet."""
    if session.scalars(select(App.id).where(App.client_id == DEMO_APP)).first() is None:
        apps.add_app(
            session,
            DEMO_APP,
            apps.Listing(
                name="Carnet Tension (démo)",
                publisher="Démo Carnet",
                description="Suivi de la tension artérielle : lit et ajoute vos mesures.",
                version="1.0",
                redirect_uris=[DEMO_APP_REDIRECT],
                scopes=["launch/patient", "offline_access", "patient/Observation.rs"],
            ),
        )
    mother = holders["mother"]
    count = select(func.count()).select_from(Appointment).where(Appointment.holder_id == mother.id)
    if not session.scalar(count):
        ctx = agenda.context(
            session, vault, settings, Principal(PrincipalKind.HOLDER, mother.id), mother
        )
        day = clock.today() + dt.timedelta(days=9)
        agenda.create(
            ctx,
            {
                "title": "Consultation de suivi",
                "start": f"{day.isoformat()}T09:30",
                "location": "Cabinet médical, 3 place de la Mairie",
                "professional": "Dr Sophie Bernard",
            },
        )
    opened = (
        select(func.count()).select_from(Conversation).where(Conversation.holder_id == mother.id)
    )
    if not session.scalar(opened):
        gp = professionals["gp"]
        conversations.start(
            Context(session, vault, settings, Principal(PrincipalKind.PROFESSIONAL, gp.id)),
            mother,
            NewConversation(
                subject="Résultats de votre bilan",
                message=NewMessage(
                    body="Bonjour, vos résultats sont dans votre espace. Rien d'inquiétant ; "
                    "nous en reparlerons lors de la consultation."
                ),
            ),
        )
