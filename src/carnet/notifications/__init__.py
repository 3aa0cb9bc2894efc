"""The e-mail outbox: mails are queued in the sender's transaction and delivered by a job."""
