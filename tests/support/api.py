"""Constants of the API tests."""

API_KEY = "test-key-5f1c"
"""The key of the `secured_client` fixture's app."""
