"""Request lifecycle: models, state machine and the service the faces call."""
