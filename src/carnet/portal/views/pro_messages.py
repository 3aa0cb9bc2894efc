"""Messagerie, professional side: the professional's conversations, reading one (its read receipt
moves), replying with a file, ending it (SRV-1); writing first is a form of the patient's page
(`professional.write_to_patient`).

Everything goes through the messaging services, which asks the decision point
(`access.rules.decide_message_*`), seals, audits and notifies; the portal decides nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from carnet.access.routes import wrapping
from carnet.auth import sessions as sessions
from carnet.errors import CarnetError
from carnet.messaging import conversations
from carnet.portal import messages
from carnet.portal.forms import form_data
from carnet.portal.i18n import N_
from carnet.portal.views.common import Visit, new_router, text, visiting
from carnet.portal.views.messages import Side, context, conversation_page, side_routes
from carnet.portal.views.professional import pro_session, pro_shell
from carnet.portal.web import FormErrors, formatter, redirect

router = new_router()
INBOX = "/pro/messages"


def pro_side(_action: str) -> Any:
    """The rule of the professional's messaging pages (`pro_session`), handing them a `Side`. The
    professional acts on no space: the decision point finds the conversation's."""
    rule = visiting(pro_session)

    def _pro_side(visit: Visit = rule) -> Side:
        return Side(INBOX, context(visit.request, visit.db, visit.principal), None, pro_shell())

    return wrapping(rule, _pro_side)


side_routes(router, "pro_", pro_side, INBOX)


@router.post(f"{INBOX}/{{conversation_id}}/end", name="portal_pro_conversation_end")
def end(
    request: Request,
    conversation_id: uuid.UUID,
    form: FormData = Depends(form_data),
    side: Side = pro_side(""),
) -> Response:
    """SRV-1: ending is final (the patient can no longer reply), so the box must be ticked."""
    fmt = formatter(request)
    if text(form, "confirm", 5) != "1":
        errors = FormErrors()
        errors.add("confirm", fmt.gettext(N_("Tick the box to confirm that you end it.")))
        return conversation_page(request, side, conversation_id, errors=errors, status=400)
    try:
        conversations.end(side.ctx, conversation_id)
    except CarnetError as exc:
        if exc.status_code == 404:
            raise
        errors = FormErrors()
        errors.add("confirm", messages.describe(exc, fmt))
        return conversation_page(
            request, side, conversation_id, errors=errors, status=exc.status_code
        )
    sessions.set_flash(side.ctx.session, request.state.portal_session, "conversation-ended")
    return redirect(f"{INBOX}/{conversation_id}")
