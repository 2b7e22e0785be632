"""Third implementations of the five vendor APIs, each written in one sitting from the vendor's document and
VENDOR-NOTES alone (for Quick Audience, whose document describes console steps, also cdpkit's OpenAPI
document of the modeled surface), by developers who had never seen cdpkit (not the mock, the suites, nor the
clean-room implementations of ``tests/cleanroom``) and were told nothing of what cdpkit checks.

Five more (``<vendor>_divergent.py``) were written with one more instruction: wherever the document leaves
room, take a defensible choice other than the obvious one (202 or 422, problem+json errors, failures at HTTP 200,
ULID trackIDs, type locks per user, other check orders), never breaking a stated rule.

They are kept as their authors left them (``<vendor>.py``; their choices where the documents are open in
``<vendor>_CHOICES.md``), because their value is that cdpkit's reading shaped nothing in them. Their first
runs found four checks that failed a correct implementation: the schemathesis run judged Zebline's
modeled read-back with the feature off (this one lists users at that path); the Sensors H5 check required
the message type written in the page (this page posts the type its save call answers); the Sensors delete
check failed instead of skipping when the disposable tag was already gone; the Zebline queued answer
required a UUID trackID where the document shows one UUID and states no format (now ZEB-TRACKID-UUID, an
assumption).
A fifth: the Quick Audience check of unknown application types sent another spelling of an offered one.
``tests/test_independent.py`` keeps them passing. The five plain ones also carry switchable
realistic bugs their authors wrote afterwards (``DEFECTS``, with ``make_app(defects)``/``build_app(defects=…)``),
which ``tests/test_independent_defects.py`` holds the suites to catching.
"""
