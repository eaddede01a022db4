// Sink tests live in this target.
