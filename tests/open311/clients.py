#!/usr/bin/env python3
"""Drive two published Open311 GeoReport v2 clients, unmodified, against a server.

Clients: three==0.8.0 (codeforamerica) and georeport==0.3.1, pinned in
requirements.txt beside this file. `bash scripts/setup` makes a virtualenv
with them; the Open311 tests run this script with its Python:

    ~/.cache/hutong/open311-clients/bin/python tests/open311/clients.py \
        http://127.0.0.1:8080/d/east/open311/v2/ htk_… streetlight --formats json,xml

three posts (georeport cannot); both read without a key, as public map and
dashboard clients do.

Prints one JSON line per step:
  {"client":..., "format":..., "step":..., "ok":bool, "result":..., "error":...}
Exit status 1 if any step has ok=false.

Shims applied here (the client packages are never edited):
  * itertools.ifilter = filter            (three.core does `from itertools import ifilter`)
  * XML only (three is a Python 2 package; these are its Python 3 gaps, not
    anything about the server): relaxml.converter.etree replaced by a namespace whose fromstring()
    builds Elements that still have .getchildren() (removed in Python 3.9), and
    three.core.xml wrapped so the result's .keys() is a list (three does
    `content.keys()[0]`).
"""
import argparse
import signal
import datetime as _dt
import itertools
import json
import sys
import traceback
import types
import xml.etree.ElementTree as _ET

# ---- shims (must run before `import three`) ---------------------------------
if not hasattr(itertools, "ifilter"):
    itertools.ifilter = filter

import relaxml.converter as _relaxml_converter  # noqa: E402


class _Py3Element(_ET.Element):
    def getchildren(self):
        return list(self)


def _fromstring(data):
    parser = _ET.XMLParser(target=_ET.TreeBuilder(element_factory=_Py3Element))
    parser.feed(data)
    return parser.close()


_relaxml_converter.etree = types.SimpleNamespace(fromstring=_fromstring)

import three  # noqa: E402
import three.core  # noqa: E402
import georeport  # noqa: E402


class _ListKeysDict(dict):
    def keys(self):
        return list(super().keys())


_orig_three_xml = three.core.xml
three.core.xml = lambda data: _ListKeysDict(_orig_three_xml(data))

# ---- helpers -----------------------------------------------------------------
FAILED = False
STEP_TIMEOUT = 30  # seconds; neither client sets a requests timeout, so guard with SIGALRM


def _alarm(signum, frame):
    raise TimeoutError("step exceeded %ss" % STEP_TIMEOUT)


def emit(client, fmt, step, ok, result=None, error=None):
    global FAILED
    if not ok:
        FAILED = True
    print(json.dumps({"client": client, "format": fmt, "step": step, "ok": ok,
                      "result": result, "error": error},
                     ensure_ascii=False, default=str), flush=True)


def run_step(client, fmt, step, fn):
    """fn() -> result summary (may raise). Returns summary or None."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(STEP_TIMEOUT)
    try:
        res = fn()
    except StepSkipped as e:
        emit(client, fmt, step, True, {"skipped": str(e)})
        return None
    except Exception as e:  # noqa: BLE001
        emit(client, fmt, step, False, None,
             "%s: %s | %s" % (type(e).__name__, e,
                              traceback.format_exc(limit=3).strip().splitlines()[-3:]))
        return None
    finally:
        signal.alarm(0)
    emit(client, fmt, step, True, res)
    return res


class StepSkipped(Exception):
    pass


class StepFailed(Exception):
    pass


def as_list(x):
    """Normalise the 'one element -> dict, many -> list, none -> None' of XML parsers."""
    if x is None or x == {} or x == "":
        return []
    return x if isinstance(x, list) else [x]


def three_items(data, child):
    """three: JSON -> list; XML -> {child: dict|list} (root element stripped)."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        return as_list(data.get(child))
    raise StepFailed("unexpected payload type %s: %r" % (type(data).__name__, data))


def check_http(client_obj, attr="_request"):
    """three never raises on HTTP errors; inspect the response it keeps."""
    resp = getattr(client_obj, attr)
    if resp.status_code >= 400:
        raise StepFailed("HTTP %s from %s %s: %s" % (
            resp.status_code, resp.request.method, resp.url, resp.text[:500]))
    return {"http_status": resp.status_code, "method": resp.request.method,
            "url": resp.url}


def summarize_request(r):
    keys = ("service_request_id", "token", "status", "service_code", "description",
            "address", "lat", "long", "requested_datetime", "updated_datetime")
    return {k: r.get(k) for k in keys if k in r}


def summarize_services(items):
    return {"count": len(items), "service_codes": [s.get("service_code") for s in items][:20]}


def summarize_definition(d):
    if isinstance(d, list):  # tolerate a (non-spec) list
        d = d[0] if d else {}
    attrs = d.get("attributes")
    if isinstance(attrs, dict):  # XML: <attributes><attribute>..</attribute></attributes>
        attrs = as_list(attrs.get("attribute"))
    attrs = as_list(attrs)
    return {"service_code": d.get("service_code"), "attribute_count": len(attrs),
            "attribute_codes": [a.get("code") for a in attrs]}


# ---- three --------------------------------------------------------------------
def run_three(args, fmt, state):
    C = "three"
    # api_key given here is only ever put into POST form bodies by three;
    # GETs carry no api_key unless passed explicitly as a kwarg.
    kw = {"api_key": args.api_key, "format": fmt}
    if args.jurisdiction:
        kw["jurisdiction"] = args.jurisdiction
    t = three.Three(args.base_url, **kw)

    def services():
        data = t.services()
        info = check_http(t)
        return dict(summarize_services(three_items(data, "service")), **info)
    run_step(C, fmt, "list_services", services)

    def definition():
        data = t.services(args.service_code)
        info = check_http(t)
        return dict(summarize_definition(data), **info)
    run_step(C, fmt, "service_definition", definition)

    def post():
        data = t.post(args.service_code, lat=args.lat, long=args.long,
                      address=args.address,  # three renames address -> address_string
                      description=args.description)
        info = check_http(t, "post_response")
        items = three_items(data, "request")
        if not items:
            raise StepFailed("empty POST answer: %r" % (data,))
        first = items[0]
        if not (first.get("service_request_id") or first.get("token")):
            raise StepFailed("POST answer has neither service_request_id nor token: %r" % (first,))
        state["posted_id"] = state.get("posted_id") or first.get("service_request_id")
        state.setdefault("posted", {})[fmt] = first
        return dict(summarize_request(first), **info)
    posted = run_step(C, fmt, "post_request", post) or {}
    posted_id = posted.get("service_request_id")

    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0, tzinfo=None)
    start, end = now - _dt.timedelta(days=1), now + _dt.timedelta(days=1)

    def list_requests():
        # between=(datetime, datetime) -> start_date/end_date formatted '%Y-%m-%dT%H:%M:%SZ'
        data = t.requests(args.service_code, status="open", between=(start, end))
        info = check_http(t)
        items = three_items(data, "request")
        ids = [str(r.get("service_request_id")) for r in items]
        res = dict(count=len(items), ids=ids[:20], **info)
        if posted_id:
            res["contains_posted"] = str(posted_id) in ids
            if not res["contains_posted"]:
                raise StepFailed("posted id %s not in filtered list: %r" % (posted_id, res))
        return res
    run_step(C, fmt, "list_requests_filtered", list_requests)

    def get_one():
        if not posted_id:
            raise StepSkipped("no service_request_id from post")
        data = t.request(str(posted_id))
        info = check_http(t)
        items = three_items(data, "request")
        if len(items) != 1:
            raise StepFailed("expected exactly one request, got %r" % (data,))
        r = items[0]
        res = dict(summarize_request(r), **info)
        if str(r.get("service_request_id")) != str(posted_id):
            raise StepFailed("id mismatch: %r" % res)
        if r.get("description") != args.description:
            raise StepFailed("description did not round-trip: %r" % r.get("description"))
        return res
    run_step(C, fmt, "get_request", get_one)

    def token():
        tok = (state.get("posted", {}).get(fmt) or {}).get("token")
        if not tok:
            raise StepSkipped("POST answer carried no token")
        data = t.token(str(tok))
        info = check_http(t)
        items = three_items(data, "request")
        if not items:
            raise StepFailed("empty token answer: %r" % (data,))
        res = dict(summarize_request(items[0]), looked_up_token=tok, **info)
        if posted_id and items[0].get("service_request_id") not in (None, "", {}) \
                and str(items[0].get("service_request_id")) != str(posted_id):
            raise StepFailed("token maps to another id: %r" % res)
        return res
    run_step(C, fmt, "token_lookup", token)

    def discovery():
        # GET <BASE>discovery.<fmt>
        data = t.discovery()
        info = check_http(t)
        endpoints = data.get("endpoints") if isinstance(data, dict) else None
        if isinstance(endpoints, dict):  # XML: <endpoints><endpoint>…</endpoint></endpoints>
            endpoints = endpoints.get("endpoint")
        endpoints = as_list(endpoints)
        urls = [e.get("url") for e in endpoints]
        if args.base_url not in urls:
            raise StepFailed("discovery lists %r, not %s" % (urls, args.base_url))
        return dict(keys=sorted(data.keys()), urls=urls, **info)
    run_step(C, fmt, "discovery", discovery)


# ---- georeport ---------------------------------------------------------------
def run_georeport(args, fmt, state):
    C = "georeport"
    # No api_key: georeport 0.3.1 stores api_key but never sends it anywhere.
    g = georeport.GeoReport(args.base_url, jurisdiction=args.jurisdiction or None,
                            output_format=fmt)

    def services():
        return summarize_services(as_list(g.get_service_list()))
    run_step(C, fmt, "list_services", services)

    def definition():
        return summarize_definition(g.get_service_definition(args.service_code))
    run_step(C, fmt, "service_definition", definition)

    run_step(C, fmt, "post_request",
             lambda: (_ for _ in ()).throw(StepSkipped("georeport 0.3.1 has no create/POST method")))

    posted_id = ((state.get("posted", {}).get(fmt) or {}).get("service_request_id")
                 or state.get("posted_id"))
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0, tzinfo=None)
    fmt_dt = "%Y-%m-%dT%H:%M:%SZ"
    start = (now - _dt.timedelta(days=1)).strftime(fmt_dt)
    end = (now + _dt.timedelta(days=1)).strftime(fmt_dt)

    def list_requests():
        items = as_list(g.get_service_requests(service_code=args.service_code, status="open",
                                               start_date=start, end_date=end))
        ids = [str(r.get("service_request_id")) for r in items]
        res = {"count": len(items), "ids": ids[:20]}
        if posted_id:
            res["contains_posted"] = str(posted_id) in ids
            if not res["contains_posted"]:
                raise StepFailed("posted id %s not in filtered list: %r" % (posted_id, res))
        return res
    run_step(C, fmt, "list_requests_filtered", list_requests)

    def list_by_id():
        if not posted_id:
            raise StepSkipped("no service_request_id available (posted by three)")
        items = as_list(g.get_service_requests(service_request_id=str(posted_id)))
        ids = [str(r.get("service_request_id")) for r in items]
        if str(posted_id) not in ids:
            raise StepFailed("requests.%s?service_request_id=%s returned %r" % (fmt, posted_id, ids))
        return {"count": len(items), "ids": ids}
    run_step(C, fmt, "list_requests_by_id", list_by_id)

    def get_one():
        if not posted_id:
            raise StepSkipped("no service_request_id available (posted by three)")
        r = g.get_service_request(str(posted_id))  # JSON: response.json()[0]; XML: dict
        if isinstance(r, list):  # XML with >1 <request>
            raise StepFailed("several <request> elements for one id: %r" % r)
        res = summarize_request(r)
        if str(r.get("service_request_id")) != str(posted_id):
            raise StepFailed("id mismatch: %r" % res)
        if r.get("description") != args.description:
            raise StepFailed("description did not round-trip: %r" % r.get("description"))
        return res
    run_step(C, fmt, "get_request", get_one)

    run_step(C, fmt, "token_lookup",
             lambda: (_ for _ in ()).throw(StepSkipped("georeport 0.3.1 has no token lookup")))
    run_step(C, fmt, "discovery",
             lambda: (_ for _ in ()).throw(StepSkipped("georeport 0.3.1 has no discovery")))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("base_url", help="e.g. http://127.0.0.1:PORT/d/east/open311/v2/")
    p.add_argument("api_key")
    p.add_argument("service_code")
    p.add_argument("--formats", default="json",
                   help="comma list of json,xml (default json)")
    p.add_argument("--jurisdiction", default="")
    p.add_argument("--lat", default="31.2304")
    p.add_argument("--long", default="121.4737")
    p.add_argument("--address", default="上海市黄浦区人民大道200号")
    p.add_argument("--description", default="路灯不亮，请尽快修理。Streetlight out (测试)")
    p.add_argument("--timeout", type=int, default=30, help="per-step timeout, seconds")
    args = p.parse_args(argv)
    global STEP_TIMEOUT
    STEP_TIMEOUT = args.timeout
    state = {}
    for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
        run_three(args, fmt, state)      # three first: it is the only one that can POST
        run_georeport(args, fmt, state)  # georeport then reads what three posted
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
