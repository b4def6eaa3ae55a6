"""Fulfillment action executors, one module per action type."""
