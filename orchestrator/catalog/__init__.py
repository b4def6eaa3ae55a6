"""Catalog items: contract, loading with source positions, validation."""
