"""Representatives, guardians and caregivers (rules REP-1…REP-5, LC-7): `relations` decides who
may act on whose space; `invitations`, `guardians`, `caregivers` and `majority` change the relations."""
