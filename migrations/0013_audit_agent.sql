-- The credential that acted on the actor's behalf: a bot token naming the GitHub user it acts
-- for (the API's X-PAO-On-Behalf-Of). The actor column keeps the user; this one the agent.
-- Filled from the transaction-local setting pao.agent (set by the store beside pao.actor) for
-- the trigger's rows and the application's rows alike; NULL when nobody acted for someone.
-- current_setting is stable, so existing rows take NULL without a table rewrite.
ALTER TABLE audit_logs
    ADD COLUMN agent text DEFAULT NULLIF(current_setting('pao.agent', true), '');
