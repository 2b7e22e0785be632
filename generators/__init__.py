"""Faker-based builders of valid and one-violation invalid payloads (built in a later step)."""
