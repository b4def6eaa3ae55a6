"""PAO core: catalog, templating, requests, engine and store. Knows nothing of HTTP or GitHub."""

__version__ = "0.1.0"
