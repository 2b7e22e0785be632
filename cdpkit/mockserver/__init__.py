"""The cdpkit mock: one aiohttp application serving the five vendor APIs and the /__mock/ control API."""
