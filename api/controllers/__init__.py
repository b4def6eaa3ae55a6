"""One controller per resource; thin: parse, call a core service, shape the answer."""
