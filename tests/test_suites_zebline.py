"""Zebline beyond the shared mutant table (tests/test_mutants.py): the generator's bodies reach the
mock through ``cdpkit gen --send`` with the mock's credentials."""

from __future__ import annotations

import pytest

from mockserver.pytest_plugin import MockServer
from mockserver.runtime import MockConfig












def test_gen_send_fills_the_mock_with_valid_and_invalid_bodies(capsys: pytest.CaptureFixture[str]) -> None:
    from cdpkit.cli import main

    with MockServer(MockConfig(port=0, vendors=["zebline"])) as server:
        code = main(["gen", "zebline.users", "--count", "60", "--seed", "3", "--locale", "market", "--send", server.url, "--quiet"])
        err = capsys.readouterr().err
        assert code == 0 and "answered as the payload calls for: 60/60" in err, err
        assert server.summary()["total"]["good"] >= 60
        code = main(["gen", "zebline.users", "--invalid", "all", "--count", "30", "--seed", "3", "--send", server.url, "--quiet"])
        err = capsys.readouterr().err
        assert code == 0 and "answered as the payload calls for: 30/30" in err, err
