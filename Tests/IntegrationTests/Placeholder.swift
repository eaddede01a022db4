// Integration tests against real Dovecot and real clients live in this target.
