"""Tests for app.py, outside the host: kv and log are replaced by fakes, so
each route's answer and what it stores can be checked. `sh test.sh` runs
them; the host is not needed.
"""

import json
import unittest
from unittest import mock

from componentize_py_types import Err
from wit_world.exports.http_handler import Request
from wit_world.imports import kv, log
from wit_world.imports.types import Error_Denied

import app


def get(path: str) -> "app.Response":
    request = Request(method="GET", path=path, query="", headers=[], body=b"", caller=None, request_id="test")
    return app.HttpHandler().handle(request)


class AppTest(unittest.TestCase):
    def setUp(self) -> None:
        self.store: dict[str, bytes] = {}
        self.logged: list[str] = []
        for patch in (
            mock.patch.object(kv, "get", self.store.get),
            mock.patch.object(kv, "set", self.store.__setitem__),
            mock.patch.object(log, "write", lambda level, message, fields: self.logged.append(message)),
        ):
            patch.start()
            self.addCleanup(patch.stop)

    def test_it_answers_that_it_runs(self) -> None:
        self.assertEqual(get("/").status, 200)

    def test_a_greeting_counts_each_visit_in_kv(self) -> None:
        for visits in (1, 2):
            response = get("/greet/ana")
            self.assertEqual(response.status, 200)
            self.assertEqual(json.loads(response.body)["visits"], visits)
        self.assertEqual(self.store["visits/ana"], b"2")
        self.assertEqual(self.logged, ["greeted", "greeted"])

    def test_kv_denied_is_answered_with_403(self) -> None:
        def denied(key: str) -> bytes:
            raise Err(Error_Denied("kv"))

        with mock.patch.object(kv, "get", denied):
            response = get("/greet/ana")
        self.assertEqual(response.status, 403)
        self.assertEqual(self.store, {})

    def test_an_unknown_route_is_not_found(self) -> None:
        self.assertEqual(get("/nowhere").status, 404)


if __name__ == "__main__":
    unittest.main()
