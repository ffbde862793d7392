"""hello-python: a Hutong app written in Python, built with componentize-py.

- `GET /` answers that it is running.
- `GET /greet/{name}` greets and counts the visit in kv; JSON.
- `GET /whoami` names the caller's role (not public: the host answers 401
  to an anonymous caller before the app is called).

A host call that fails raises `componentize_py_types.Err`, whose `value` is
one of the `wit_world.imports.types.Error_*` classes; a permission the
district did not grant is `Error_Denied`, carrying the permission's name.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.http_handler import Request, Response
from wit_world.imports import kv, log
from wit_world.imports.types import Error_Denied


def answer(status: int, body: str, content_type: str = "text/plain; charset=utf-8") -> Response:
    return Response(status=status, headers=[("content-type", content_type)], body=body.encode())


def greet(name: str) -> Response:
    key = f"visits/{name}"
    try:
        before = kv.get(key)
        visits = int(before.decode()) + 1 if before is not None else 1
        kv.set(key, str(visits).encode())
    except Err as e:
        if isinstance(e.value, Error_Denied):
            return answer(403, f"this app may not use {e.value.value}: ask the district administrator")
        return answer(500, f"kv failed: {e.value}")
    log.write(log.Level.INFO, "greeted", [("name", name), ("visits", str(visits))])
    body = json.dumps({"greeting": f"你好, {name}!", "visits": visits}, ensure_ascii=False)
    return answer(200, body, "application/json")


class HttpHandler(exports.HttpHandler):
    def handle(self, request: Request) -> Response:
        if request.method != "GET":
            return Response(status=405, headers=[("allow", "GET")], body=b"only GET")
        path = request.path
        if path == "/":
            return answer(200, "hello-python is running")
        if path.startswith("/greet/") and len(path) > len("/greet/"):
            return greet(path[len("/greet/"):])
        if path == "/whoami" and request.caller is not None:
            return answer(200, request.caller.role.name.lower())
        return answer(404, "no such route; try /greet/{name}")
