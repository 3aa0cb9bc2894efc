"""Reimbursements: the insurer's feed of paid care, per holder (rules SRV-4, REP-2, ACC-7, ACC-8)."""
