"""REST face of PAO (Litestar). Translates HTTP into calls on the core's services."""
