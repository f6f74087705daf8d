"""Webhook intake: pure normalisers from verified platform bodies to typed events."""
