-- Action types are plugins (orchestrator/action_types.py, entry points pao.action_types): the
-- database no longer lists the four built-in types, so an installed plugin's type can be
-- stored. The name is still checked for form (what ActionTypes accepts: lower-case words
-- joined by hyphens; 'manual' is the engine's own fallback step).
ALTER TABLE request_actions DROP CONSTRAINT request_actions_action_type_check;
ALTER TABLE request_actions
    ADD CONSTRAINT request_actions_action_type_check CHECK (action_type ~ '^[a-z][a-z0-9-]*$');
