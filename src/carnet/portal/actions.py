"""Plain words for the audit log's action codes, as a holder's access history shows them (rule
ACC-8; issue 16: the history showed `message.list`, `agenda.read`... in both languages).

One place for every action Carnet records (tests/portal/test_actions.py scans the sources for
codes without words). A refusal recorded as `<action>-denied` is said as its action, refused; a
code Carnet no longer records (an old entry) is said by its domain, never as a raw code.
"""

from __future__ import annotations

from carnet.portal.i18n import N_, Formatter

DENIED = "-denied"

ACTIONS: dict[str, str] = {
    "access-history.read": N_("Read the access history"),
    "access.emergency": N_("Access in an emergency"),
    "access.emergency-gp": N_("Access in an emergency"),
    "access.first": N_("First access"),
    "access.report": N_("Reported an access"),
    "access.settings": N_("Changed the emergency settings"),
    "account.code-failure": N_("Entered a wrong activation code"),
    "account.code-renewed": N_("Asked for a new activation code"),
    "account.contact-update": N_("Updated the contact details"),
    "account.majority": N_("Space handed over at coming of age"),
    "account.oppose-dmp-migration": N_("Opposed the transfer of the former shared record"),
    "account.opposition-proof-download": N_("Downloaded the proof of opposition"),
    "account.provision": N_("Created the space"),
    "account.purge": N_("Deleted the space's data"),
    "account.roster-update": N_("Updated the identity"),
    "account.show": N_("Looked up the space (operator)"),
    "account.notification-preferences": N_("Changed the e-mail notifications"),
    "account.suspension-objection": N_("Objected to the suspension of the space"),
    "account.suspension-objection-decided": N_("Decided on the objection to the suspension"),
    "account.suspension-objection-read": N_("Read the objection to the suspension (operator)"),
    "agenda.create": N_("Added an appointment"),
    "agenda.delete": N_("Deleted an appointment"),
    "agenda.feed": N_("Managed the calendar link"),
    "agenda.feed-create": N_("Created the calendar link"),
    "agenda.feed-read": N_("Read the agenda through the calendar link"),
    "agenda.feed-revoke": N_("Revoked the calendar link"),
    "agenda.prevention": N_("Read the prevention calendar"),
    "agenda.read": N_("Read the agenda"),
    "agenda.reminder": N_("Sent an appointment reminder"),
    "agenda.settings": N_("Changed the agenda settings"),
    "agenda.settings-read": N_("Read the agenda settings"),
    "agenda.update": N_("Changed an appointment"),
    "app.add": N_("Registered an application"),
    "app.authorize-refused": N_("Connection of an application refused"),
    "app.code-replayed": N_("Reused connection code refused"),
    "app.consent": N_("Connected an application"),
    "app.consent-refused": N_("Refused to connect an application"),
    "app.disconnect": N_("Disconnected an application"),
    "app.refresh-replayed": N_("Reused application key refused"),
    "app.reminder": N_("Reminded you of the connected applications"),
    "app.request-denied": N_("Application request refused"),
    "app.token-issued": N_("Gave an application access"),
    "app.token-revoked": N_("Ended an application's access"),
    "app.update": N_("Changed an application"),
    "auth.password-reset": N_("Set a new password with a recovery code"),
    "auth.recovery-asked": N_("Asked for a password recovery code"),
    "auth.recovery-failure": N_("Entered a wrong password recovery code"),
    "auth.access-ended": N_("Access ended"),
    "auth.login": N_("Logged in"),
    "auth.login-failure": N_("Failed login"),
    "auth.logout": N_("Logged out"),
    "auth.passkey-add": N_("Added a passkey"),
    "auth.passkey-revoke": N_("Removed a passkey"),
    "auth.password-change": N_("Changed the password"),
    "auth.password-change-failure": N_("Failed password change"),
    "care.administrator": N_("Changed an administrator"),
    "care.authorise": N_("Authorised a professional"),
    "care.block": N_("Blocked a professional"),
    "care.block-denied": N_("Blocking refused"),
    "care.declare": N_("Declared caring for you"),
    "care.gp": N_("Answered a GP (médecin traitant) proposal"),
    "care.unblock": N_("Unblocked a professional"),
    "caregiving.expire": N_("Caregiver invitation expired"),
    "caregiving.invite": N_("Invited a caregiver"),
    "caregiving.revoke": N_("Ended a caregiver's access"),
    "conversation.delete": N_("Deleted a conversation"),
    "conversation.end": N_("Ended a conversation"),
    "document.awaiting-notice": N_("Announced a document awaiting its consultation"),
    "document.change": N_("Changed a document"),
    "document.delete": N_("Deleted a document"),
    "document.deposit": N_("Deposited a document"),
    "document.download": N_("Downloaded a document"),
    "document.new": N_("Added a document"),
    "document.preferences": N_("Changed the document preferences"),
    "document.read": N_("Read a document"),
    "document.read-metadata": N_("Read a document's description"),
    "document.released": N_("Made a document visible"),
    "document.replace": N_("Replaced a document"),
    "document.search": N_("Searched the documents"),
    "document.stage-binary": N_("Sent a document's file"),
    "emergency.open": N_("Opened an emergency access"),
    "emergency.open-denied": N_("Emergency access refused"),
    "export.download": N_("Downloaded all the data"),
    "export.request": N_("Asked for all the data"),
    "folder.create": N_("Created a folder"),
    "folder.delete": N_("Deleted a folder"),
    "folder.rename": N_("Renamed a folder"),
    "message.attachment-read": N_("Opened a message attachment"),
    "message.attachment-save": N_("Saved a message attachment in the documents"),
    "message.draft": N_("Saved a message draft"),
    "message.list": N_("Read the list of conversations"),
    "message.read": N_("Read a conversation"),
    "message.send": N_("Sent a message"),
    "operator.register": N_("Registered an operator"),
    "patient.read": N_("Read your identity"),
    "professional.register": N_("Registered a professional"),
    "professional.update": N_("Updated a professional"),
    "profile.create": N_("Added to the medical profile"),
    "profile.delete": N_("Deleted from the medical profile"),
    "profile.history": N_("Read the history of a medical profile entry"),
    "profile.read": N_("Read the medical profile"),
    "profile.update": N_("Changed the medical profile"),
    "profile.write": N_("Wrote in the medical profile"),
    "reimbursements.import": N_("Imported reimbursements"),
    "reimbursements.read": N_("Read the reimbursements"),
    "representation.expire": N_("Representative invitation expired"),
    "representation.guardian-add": N_("Added a legal guardian"),
    "representation.guardian-end": N_("Ended a legal guardianship"),
    "representation.invite": N_("Invited a legal representative"),
    "storage.fsck-repair": N_("Repaired stored files"),
    "summary.generate": N_("Produced the summary PDF"),
    "timeline.read": N_("Read the health story"),
    "timeline.settings": N_("Changed the health story settings"),
    "token.issue": N_("Issued an access key (operator)"),
    "wishes.create": N_("Added a contact or wish"),
    "wishes.delete": N_("Removed a contact or wish"),
    "wishes.read": N_("Read the contacts and wishes"),
    "wishes.update": N_("Changed a contact or wish"),
}

# Words for an old code no longer listed above, by the domain before its dot.
DOMAINS: dict[str, str] = {
    "access": N_("Action on the access settings"),
    "account": N_("Action on the space"),
    "agenda": N_("Action in the agenda"),
    "app": N_("Action of a connected application"),
    "auth": N_("Sign-in action"),
    "care": N_("Action on the care team"),
    "document": N_("Action on a document"),
    "message": N_("Action in the messaging"),
    "profile": N_("Action in the medical profile"),
    "wishes": N_("Action on the contacts and wishes"),
}
OTHER = N_("Other action in Carnet")
REFUSED = N_("%(action)s (refused)")


def known(code: str) -> bool:
    """Whether `code` has words of its own (itself, or its action when it is a refusal)."""
    return code in ACTIONS or (code.endswith(DENIED) and code[: -len(DENIED)] in ACTIONS)


def label(fmt: Formatter, code: str) -> str:
    """The action in the reader's language."""
    if code in ACTIONS:
        return fmt.gettext(ACTIONS[code])
    if code.endswith(DENIED) and code[: -len(DENIED)] in ACTIONS:
        return fmt.gettext(REFUSED) % {"action": fmt.gettext(ACTIONS[code[: -len(DENIED)]])}
    return fmt.gettext(DOMAINS.get(code.split(".", 1)[0], OTHER))
