"""What a professional may read in the holder's space, and why (rule ACC-1, issue item 7).

Every answer is the decision point's (`decide_document_read`) on representative documents of each
category's sensitivities; nothing is re-decided here, only worded for the holder.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from carnet import clock
from carnet.access.care_team import (
    ProfessionalView,
    last_accesses,
    professional_view,
    require_settings_read,
)
from carnet.access.lookups import professional_by_rpps, relationship
from carnet.access.rules import Actor, Care, Decision, DocumentFacts, decide_document_read
from carnet.access.service import actor_for, space_facts
from carnet.accounts.models import Holder
from carnet.audit.rules import Mode
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.documents import reference
from carnet.documents import rules as doc_rules

# The decision point's reason codes, as the holder reads them (item 7, "explain").
EXPLANATIONS = {
    "care-team": "Ce professionnel fait partie de votre équipe de soins.",
    "author": "Ce professionnel voit toujours les documents qu'il a lui-même déposés.",
    "emergency": "Un accès en urgence est ouvert pour ce professionnel.",
    "regulation": "Un accès en régulation (SAMU – centre 15) est ouvert pour ce professionnel.",
    "not-in-care-team": "Ce professionnel n'est pas dans votre équipe de soins.",
    "express-authorisation": (
        "Ce professionnel (médecine du travail ou sapeurs-pompiers) ne lit votre espace que si "
        "vous l'autorisez expressément."
    ),
    "blocked": "Vous avez bloqué ce professionnel : il ne peut rien lire.",
    "profession-not-habilitated": "Sa profession ne permet pas de lire ce type de document.",
    "masked": "Document masqué : visible seulement des administrateurs.",
    "masked-emergency": (
        "Document masqué : non visible en urgence, sauf si vous l'avez permis dans vos "
        "paramètres d'urgence."
    ),
    "space-not-open": "Votre espace n'est pas ouvert.",
    "emergency-opposed": "Vous vous êtes opposé(e) à l'accès en urgence.",
    "regulation-opposed": "Vous vous êtes opposé(e) à l'accès par le SAMU (centre 15).",
    "no-regulation-grant": "Le SAMU (centre 15) ne lit votre espace qu'en régulation.",
    "entered-in-error": "Document retiré par son auteur.",
}


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str
    explanation: str


@dataclass(frozen=True)
class SensitivityAccess:
    sensitivity: str
    document_types: list[str]
    normal: Verdict
    masked: Verdict
    if_authorised: Verdict  # what authorising them (ACC-3) would change


@dataclass(frozen=True)
class CategoryAccess:
    code: str
    label: str
    access: Literal["all", "some", "none"]
    masked_access: Literal["all", "some", "none"]
    explanation: str
    sensitivities: list[SensitivityAccess]


@dataclass(frozen=True)
class Explanation:
    view: ProfessionalView
    mode: str
    summary: Verdict
    own_documents: Verdict
    categories: list[CategoryAccess]


def _explain(actor: Actor, decision: Decision) -> str:
    reason = decision.reason
    if reason == "not-in-care-team" and actor.needs_express_authorisation:
        reason = "express-authorisation"
    if reason == "masked" and decision.mode is not Mode.NORMAL:
        reason = "masked-emergency"
    return EXPLANATIONS.get(reason, "Accès refusé.")


def _verdict(actor: Actor, decision: Decision) -> Verdict:
    return Verdict(decision.allowed, decision.reason, _explain(actor, decision))


def _sensitivities_by_category() -> dict[str, dict[str, list[str]]]:
    """For each category, the sensitivities of its document types (with their labels), plus the
    sensitivity of the holder's own uploads in that category (DOC-1)."""
    found: dict[str, dict[str, list[str]]] = {code: {} for code in reference.categories()}
    for doc_type in reference.document_types().values():
        found.setdefault(doc_type.category, {}).setdefault(doc_type.sensitivity, []).append(
            doc_type.label_fr
        )
    for code, by_sensitivity in found.items():
        by_sensitivity.setdefault(doc_rules.upload_category_sensitivity(code), [])
    return found


def _overall(flags: list[bool]) -> Literal["all", "some", "none"]:
    if flags and all(flags):
        return "all"
    return "some" if any(flags) else "none"


def explain(
    session: Session, settings: Settings, principal: Principal, holder: Holder, rpps: str
) -> Explanation:
    """Item 7: what this professional can read now in this space, by category, and why.

    Every answer comes from `decide_document_read` on representative documents of each category's
    sensitivities (plain and masked), written by someone else; nothing is re-decided here.
    """
    require_settings_read(session, settings, principal, holder)
    pro = professional_by_rpps(session, rpps)
    space = space_facts(session, holder)
    actor = actor_for(session, settings, Principal(PrincipalKind.PROFESSIONAL, pro.id), holder)
    authorised = dataclasses.replace(actor, care=Care.AUTHORISED)
    now = clock.now()

    def facts(sensitivity: str, *, masked: bool, author: uuid.UUID | None = None) -> DocumentFacts:
        return DocumentFacts(
            author_kind="professional" if author else "holder",
            author_id=author or holder.id,
            sensitivity=sensitivity,
            status="current",
            masked=masked,
            invisible_to_patient=False,
            visible_to_patient_from=None,
            invisible_to_representatives=False,
        )

    categories: list[CategoryAccess] = []
    labels = reference.categories()
    for code, by_sensitivity in _sensitivities_by_category().items():
        items: list[SensitivityAccess] = []
        for sensitivity in sorted(by_sensitivity):
            items.append(
                SensitivityAccess(
                    sensitivity=sensitivity,
                    document_types=sorted(by_sensitivity[sensitivity]),
                    normal=_verdict(
                        actor,
                        decide_document_read(actor, space, facts(sensitivity, masked=False), now),
                    ),
                    masked=_verdict(
                        actor,
                        decide_document_read(actor, space, facts(sensitivity, masked=True), now),
                    ),
                    if_authorised=_verdict(
                        authorised,
                        decide_document_read(
                            authorised, space, facts(sensitivity, masked=False), now
                        ),
                    ),
                )
            )
        access = _overall([item.normal.allowed for item in items])
        refusals = list(
            dict.fromkeys(item.normal.explanation for item in items if not item.normal.allowed)
        )
        granted = next((item.normal.explanation for item in items if item.normal.allowed), "")
        if access == "all":
            explanation = granted
        elif access == "none":
            explanation = " ".join(refusals)
        else:
            explanation = "Une partie seulement des documents de cette catégorie. " + " ".join(
                refusals
            )
        label = labels[code].label_fr if code in labels else code
        categories.append(
            CategoryAccess(
                code=code,
                label=label,
                access=access,
                masked_access=_overall([item.masked.allowed for item in items]),
                explanation=explanation,
                sensitivities=items,
            )
        )
    summary = decide_document_read(actor, space, facts("general", masked=False), now)
    own = decide_document_read(actor, space, facts("general", masked=True, author=pro.id), now)
    rel = relationship(session, holder.id, pro.id)
    last = last_accesses(session, holder.id, [pro.id]).get(str(pro.id))
    return Explanation(
        view=professional_view(pro, rel, last),
        mode=summary.mode.value,
        summary=_verdict(actor, summary),
        own_documents=_verdict(actor, own),
        categories=categories,
    )
