"""Conformance suites that judge any implementation of a vendor API by its URL.

``registry`` (the ``@requirement(ID)`` decorator), ``checks`` (exchanges, ``expect`` helpers),
``target`` (the ``cdp`` fixture's object and each vendor's ``PROFILE``), ``plugin`` (pytest options and
fixtures), ``fuzz`` (the schemathesis run), ``report`` (progress, summary, reports), ``cli``
(``cdpkit check``); one ``test_<vendor>.py`` per vendor and the generic ``test_schemathesis.py``.
"""
