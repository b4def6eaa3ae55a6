-- Failure handling: whether an action's last failed attempt ended with an unknown outcome (it
-- timed out or lost its connection: the target may have done the work). A retry after an
-- unknown outcome keeps the correlation key the target saw (same generation); a retry after a
-- known failure (the target answered with an error) gets a new one.

ALTER TABLE request_actions ADD COLUMN outcome_unknown boolean NOT NULL DEFAULT false;
