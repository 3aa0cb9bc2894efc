"""Every message the portal shows, in the person's language: errors of the services, flashes.

The services raise English messages with stable codes (`carnet.errors`). The portal translates them:
first by code, then by the exact English message when it is a catalogue msgid (listed here with
`N_` so that extraction finds it), else with a plain message for the HTTP status. Nothing here
decides anything: the rules stay in the services.
"""

from __future__ import annotations

from carnet.errors import CarnetError
from carnet.portal.i18n import N_, Formatter

# Messages by error code (the services' stable codes).
BY_CODE: dict[str, str] = {
    # professionals (the portal's professional side)
    "not-a-regulator": N_("This professional is not a regulating physician."),
    # ID-1: the NIR's key (its last two digits) does not match its first 13 characters
    "nir-key-mismatch": N_("The NIR key does not match: check the last two digits."),
    # provisional codes (LC-2, LC-4)
    "bad-code": N_("The social security number or the code is not correct."),
    "code-used": N_("This code was already used."),
    "code-replaced": N_("This code was replaced by a newer one: use the latest code you received."),
    "code-expired": N_("This code has expired: ask for a new one."),
    "deadline-passed": N_("The opposition deadline has passed."),
    "purge-pending": N_("A new activation is refused while the erasure of this space is pending."),
    "already-active": N_("This space is already activated."),
    "minor": N_("A minor's space is activated and managed by their legal representative."),
    "username-taken": N_("This username is taken: choose another one."),
    # states of a space
    "state-opposed": N_("This person opposed the creation of their space."),
    "state-closed": N_("This space is closed."),
    "state-purge-pending": N_("This space is closed and its erasure is pending."),
    "state-suspended": N_("This space is suspended."),
    "state-notified": N_("This space is not open yet."),
    "state-open": N_("This space is already open."),
    "state-active": N_("This space is already open."),
    # objecting to a suspension (LC-6)
    "not-suspended": N_("This space is not suspended."),
    "objection-deadline-passed": N_("The 6 weeks to object to this suspension are over."),
    "objection-recorded": N_("An objection to this suspension is already recorded."),
    # logging in
    "bad-credentials": N_("The username or the password is not correct."),
    "no-email": N_("No e-mail address is known for this account: the login code cannot be sent."),
    "bad-challenge": N_("This login attempt is unknown or has ended: log in again."),
    "challenge-used": N_("This login code was already used: log in again."),
    "challenge-expired": N_("This login code has expired: log in again."),
    "challenge-dead": N_("Too many wrong codes for this login attempt: log in again."),
    # passkeys (auth.passkeys)
    "passkey-name": N_("Give this passkey a name."),
    "passkey-bad-password": N_("The password is not correct."),
    # changing and recovering a password (auth.password, auth.recovery)
    "bad-password": N_("The current password is not correct."),
    "bad-recovery-code": N_("The username or the recovery code is not correct."),
    "passkey-limit": N_("You have as many passkeys as allowed: remove one first."),
    "passkey-invalid": N_("The passkey could not be verified: try again."),
    "passkey-known": N_("This passkey is already registered."),
    "passkey-ended": N_("This passkey request has ended: try again."),
    "passkey-refused": N_("This passkey was not accepted."),
    "passkey-unknown": N_("This passkey does not exist, or is not yours."),
    "no-passkey": N_("No passkey is registered for this account: use the code received by e-mail."),
    # documents (DOC-1…DOC-6)
    "too-large": N_("The file is too large."),
    "unsupported-type": N_(
        "This type of file is not accepted: send a PDF, a JPEG or PNG image, a TIFF, an RTF or a "
        "plain text file."
    ),
    "unreadable-pdf": N_("This PDF cannot be read: it is damaged or protected."),
    "malformed-upload": N_("The file was not received correctly: try again."),
    "unknown-category": N_("Choose a category from the list."),
    "not-deletable": N_("This document cannot be deleted."),
    "unreadable-image": N_("This image cannot be read: send a JPEG, PNG or TIFF file that opens."),
    "too-many-uploads": N_(
        "Too many documents added in a short time: wait a minute, then try again."
    ),
    "space-full": N_(
        "Your space's storage is full: delete documents to make room, then try again."
    ),
    # messaging (SRV-1)
    "conversation-ended": N_(
        "This conversation was ended by the professional: replies are no longer possible."
    ),
    "mailbox-full": N_("Mailbox full: delete conversations to make room, then send again."),
    "space-not-open": N_("This space is not open."),
    "invisible-to-representatives": N_("This action is not allowed on this document."),
    "caregiver-forbidden": N_(
        "A caregiver cannot close the space, manage caregivers or change access settings of the "
        "person they help."
    ),
    # professionals and the access history (ACC-3, ACC-4, ACC-8)
    "unknown-professional": N_("No professional is registered with this RPPS number."),
    "not-blocked": N_("This professional is not blocked."),
    "administrator-needs-care-team": N_(
        "Only a professional of your care team (authorised, or declared as treating you) can be "
        "an administrator."
    ),
    "no-gp-proposal": N_("This professional has no GP proposal awaiting your answer."),
    "gp-candidate-blocked": N_(
        "You blocked this professional: unblock them before confirming them as your GP."
    ),
    "gp-must-be-physician": N_("Only a physician can be declared as the patient's GP."),
    # contacts and wishes
    "too-many-contacts": N_("At most 10 emergency contacts: remove one first."),
    # invitations (REP-1, REP-4)
    "expired": N_("This invitation has expired: ask for a new one."),
    "withdrawn": N_("This invitation was withdrawn."),
    "answered": N_("This invitation was already answered."),
    "no-longer-minor": N_("This person is no longer a minor."),
    "two-representatives": N_("This child already has two legal representatives."),
    "cared-for-limit": N_("This caregiver already helps the most people a caregiver may help."),
    # messaging (SRV-1): the holder side writes first only to a dispensing pharmacy
    "not-a-dispensing-pharmacy": N_(
        "You may write first only to a pharmacy that dispensed to you."
    ),
    # the portal itself
    "csrf": N_(
        "This form has expired or was not sent from Carnet. Reload the page and try again "
        "(cookies must be allowed)."
    ),
    "conflict": N_("The change conflicts with data saved meanwhile; try again."),
    "database-unavailable": N_("The service is temporarily unavailable. Try again in a moment."),
    "internal-error": N_("An internal error occurred. Try again later."),
}

# Exact English messages of the services that carry a generic code (invalid-input, not-found…).
KNOWN_MESSAGES = (
    N_("The birth date does not match our records."),
    N_("A username has 3 to 64 letters, digits, dots, dashes or underscores."),
    N_("The password must have at least 12 characters."),
    N_("The new password must differ from the current one."),
    N_("The password must have at most 256 characters."),
    N_("The password repeats too few different characters."),
    N_("The password must not contain the username."),
    N_("The password must not contain the birth date."),
    N_("The file is empty."),
    N_("A title of 1 to 300 characters is required."),
    N_("A folder name has 1 to 100 characters."),
    N_("No such document."),
    N_("No such folder."),
    N_("No such space."),
    N_("No such contact or wish."),
    N_("No such emergency contact."),
    N_("No such invitation."),
    N_("No such proof of opposition."),
    N_("This action is not allowed on this document."),
    N_("You may not add documents to this space."),
    N_("This space is closed. It cannot be used to log in."),
    # messaging (SRV-1, ID-3): the refusals of the messaging services
    N_(
        "This patient's identity (INS) is not qualified: messages cannot be sent to them "
        "until it is checked against the insurer's register (rule ID-3)."
    ),
    N_("You may write only to patients whose space you may access (care team, rule SRV-1)."),
    N_("Only professionals may do this."),
    N_("A subject is required."),
    N_("Choose the pharmacy you write to."),
    N_("The message is empty."),
    N_("This space is suspended. It cannot be used to log in."),
    N_("This space is closed and its erasure is pending. It cannot be used to log in."),
    N_("This person opposed the creation of their space. It cannot be used to log in."),
)

# SRV-1, ACC-1, DOC-3: a recipient may not read a document attached from the record. The service's
# error carries who (a professional's name and RPPS, no health data) and the decision's reason.
RECIPIENT_MAY_NOT_READ = N_(
    "%(recipient)s may not read the attached document (%(why)s): nothing was sent. Remove the "
    "document, or send it only to professionals who may read it."
)
WHY_NOT_READ: dict[str, str] = {
    "masked": N_("the patient masked it from professionals"),
    "profession-not-habilitated": N_("their profession may not read this type of document"),
    "source-deleted": N_("it was deleted from the patient's documents"),
    "entered-in-error": N_("it was withdrawn as entered in error"),
}
WHY_NOT_READ_OTHERWISE = N_("they may not read this patient's documents")

BY_STATUS: dict[int, str] = {
    400: N_("Some information is not valid: check it and try again."),
    401: N_("You need to log in to see this page."),
    403: N_("This action is not allowed."),
    404: N_("This page or this item does not exist, or you may not see it."),
    405: N_("This action is not available here."),
    409: N_("This action is not possible now."),
    413: N_("The file is too large."),
    429: N_("Too many attempts: wait a moment and try again."),
    500: N_("An internal error occurred. Try again later."),
    503: N_("The service is temporarily unavailable. Try again in a moment."),
}

# Field problems of the wish forms (the models' English messages are technical).
FIELD_MESSAGES: dict[str, str] = {
    "name": N_("Enter a name (at most 200 characters)."),
    "relation": N_("At most 100 characters."),
    "phone": N_(
        "Enter a phone number: digits, spaces, dots or dashes, with an optional leading +."
    ),
    "email": N_("Enter an e-mail address such as name@example.org."),
    "address": N_("At most 500 characters."),
    "note": N_("At most 2000 characters."),
    "choice": N_("Choose one of the answers."),
    "where_kept": N_("At most 500 characters."),
    "text": N_("At most 20,000 characters."),
    "has_directives": N_("Choose one of the answers."),
}

# Messages shown once after an action (flash keys stored in the session).
FLASH: dict[str, str] = {
    "document-added": N_("The document was added."),
    "document-renamed": N_("The document was renamed."),
    "document-moved": N_("The document was moved."),
    "document-pinned": N_("The document is pinned at the top of the list."),
    "document-unpinned": N_("The document is no longer pinned."),
    "document-masked": N_("The document is now masked from professionals."),
    "document-unmasked": N_("The document is visible again to the professionals who may read it."),
    "document-deleted": N_("The document was deleted."),
    "document-gone": N_("This document no longer exists: it was probably deleted already."),
    "already-received": N_("This form was already sent: nothing was added twice."),
    "folder-created": N_("The folder was created."),
    "profile-switched": N_("You are now acting in this space."),
    "profile-reset": N_("You no longer manage that space: you are back in your own space."),
    "managed-space-closed": N_(
        "The space is closed: its content stays archived, then is erased automatically. You are "
        "back in your own space."
    ),
    "managed-space-erased": N_(
        "The space is closed and its erasure is requested: everything in it will be erased at "
        "the next daily run. You are back in your own space."
    ),
    "passkey-added": N_("The passkey was added: you can now use it to log in."),
    "passkey-revoked": N_("The passkey was removed: it no longer opens your account."),
    "wish-saved": N_("Your changes were saved."),
    "app-disconnected": N_("The app is disconnected: it can no longer read or change anything."),
    "wish-deleted": N_("The contact was removed."),
    "preferences-saved": N_("Your preferences were saved."),
    "invitation-accepted": N_("The invitation was accepted."),
    "invitation-refused": N_("The invitation was refused."),
    "logged-out-elsewhere": N_("Every other session was ended, on every device."),
    "password-changed": N_(
        "Your password is changed. Your other sessions and the apps you connected are logged out."
    ),
    "session-ended": N_("The session is ended on that device."),
    "session-gone": N_("This session had already ended."),
    "professional-authorised": N_("The professional is authorised to read your space."),
    "professional-blocked": N_("The professional is blocked: they can no longer read your space."),
    "professional-unblocked": N_("The professional is no longer blocked."),
    "administrator-granted": N_("The professional is now an administrator of your space."),
    "administrator-revoked": N_("The professional is no longer an administrator."),
    "emergency-saved": N_("Your emergency settings were saved."),
    "gp-confirmed": N_(
        "This physician is now your GP (médecin traitant). Your previous GP, if any, is informed."
    ),
    "gp-declined": N_("The proposal was declined: your GP has not changed."),
    "access-reported": N_("The access was reported. Thank you."),
    "care-declared": N_("You are now declared as treating this patient."),
    "care-already-declared": N_("You were already declared as treating this patient."),
    "care-gp-proposed": N_(
        "Your declaration is recorded. Being this patient's GP is a proposal: it takes effect "
        "only once the patient confirms it in Carnet."
    ),
    "emergency-opened": N_("The emergency access is open. The patient will be informed."),
    "message-sent": N_("Your message was sent."),
    "attachment-saved": N_("The attachment was saved in your documents."),
    "conversation-deleted": N_("The conversation was deleted from your mailbox."),
    "conversation-ended": N_("The conversation was ended."),
    "appointment-added": N_("The appointment was added."),
    "appointment-deleted": N_("The appointment was deleted."),
    "prevention-on": N_("The prevention calendar is switched on."),
    "prevention-off": N_("The prevention calendar is switched off."),
    "feed-revoked": N_("The private link was revoked: it no longer works."),
    "profile-entry-saved": N_("The medical profile was saved."),
    "profile-entry-deleted": N_("The entry was deleted. Its history is kept."),
    "target-saved": N_("The target was saved."),
    "target-deleted": N_("The target was removed."),
    "export-requested": N_(
        "Your data is being prepared. You will receive an e-mail when it can be downloaded."
    ),
}


def describe(error: CarnetError, fmt: Formatter) -> str:
    """The error in the person's language: never a stack trace, never health data."""
    if error.code == "too-many-attempts":
        return too_many(int(getattr(error, "retry_after", 60)), fmt)
    if error.code == "recipient-may-not-read":
        reason = str(getattr(error, "reason", ""))
        why = fmt.gettext(WHY_NOT_READ.get(reason, WHY_NOT_READ_OTHERWISE))
        recipient = str(getattr(error, "recipient", ""))
        return fmt.gettext(RECIPIENT_MAY_NOT_READ) % {"recipient": recipient, "why": why}
    if error.code in BY_CODE:
        return fmt.gettext(BY_CODE[error.code])
    if error.message in KNOWN_MESSAGES:
        return fmt.gettext(error.message)
    if fmt.locale == "en":
        return error.message
    return fmt.gettext(BY_STATUS.get(error.status_code, BY_STATUS[400]))


def too_many(seconds: int, fmt: Formatter) -> str:
    """A throttled attempt (`auth.throttle`): how long this connection waits, never why."""
    if seconds < 60:
        return fmt.ngettext(
            "Too many failed attempts: wait %(num)d second before trying again.",
            "Too many failed attempts: wait %(num)d seconds before trying again.",
            max(1, seconds),
        ) % {"num": max(1, seconds)}
    minutes = -(-seconds // 60)
    return fmt.ngettext(
        "Too many failed attempts: wait %(num)d minute before trying again.",
        "Too many failed attempts: wait %(num)d minutes before trying again.",
        minutes,
    ) % {"num": minutes}


def for_status(status: int, fmt: Formatter) -> str:
    return fmt.gettext(BY_STATUS.get(status, BY_STATUS[500]))


def flash(key: str | None, fmt: Formatter) -> str | None:
    if not key or key not in FLASH:
        return None
    return fmt.gettext(FLASH[key])
