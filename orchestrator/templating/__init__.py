"""Handlebars-style templates over request variables: parsing, static analysis, rendering."""
