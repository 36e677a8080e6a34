"""REST cases: URLs and methods, JSON structure, images, huge allocations, valid traffic.

Framing attacks and slow clients live in :mod:`.framing_gen`; this module picks the kind and builds the
rest. A case goes over httpx when httpx can send it byte for byte (a token method, a printable ASCII
path), otherwise over a raw socket.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

from . import framing_gen, images, values
from .cases import Case, HttpRequest, RawExchange, short
from .documents import Route, b64, tensor_shape_route, valid_route, yolo_predict
from .framing_gen import request_bytes
from .models import Target

KINDS = (
    ("url", 15),
    ("json", 25),
    ("image", 13),
    ("bomb", 2),
    ("shape", 3),
    ("alloc", 4),
    ("framing", 21),
    ("slow", 5),
    ("valid", 15),
)
METHODS = ("GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH")
_HTTPX_SAFE_PATH = re.compile(r"/[!-~]{0,8000}")
_TARGET = re.compile(r"(/|http://)[!-~]*")


def generate(rng: random.Random, index: int, target: Target) -> Case:
    kind = rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS])[0]
    if kind in ("framing", "slow"):
        label, exchange = (framing_gen.framing if kind == "framing" else framing_gen.slow)(rng, target)
        return Case(index, "rest", f"rest/{kind}", f"raw {label}", raw=exchange)
    if kind == "valid" and rng.random() < 0.3:
        return _keepalive_case(rng, index, target)
    method, path, body, what = _BUILDERS[kind](rng, target)
    return _case(rng, index, f"rest/{kind}", method, path, body, what)


def _keepalive_case(rng: random.Random, index: int, target: Target) -> Case:
    """2-3 valid requests on one httpx connection (keep-alive)."""
    requests = []
    for _ in range(rng.randint(2, 3)):
        method, path, body, _ = valid_case(rng, target)
        headers = (("Content-Type", "application/json"),) if body else ()
        requests.append(HttpRequest(method, path, body, headers))
    label = "httpx keep-alive " + " ; ".join(f"{r.method} {r.path}" for r in requests)
    return Case(index, "rest", "rest/valid", label, http=tuple(requests))


def _case(rng: random.Random, index: int, kind: str, method: str, path: str, body: bytes, what: str) -> Case:
    headers = (("Content-Type", "application/json"),) if body else ()
    label = f"{method} {short(path, 90)} body[{len(body)}]={short(body, 90)} ({what})"
    if _httpx_can_send(method, path) and rng.random() < 0.6:
        return Case(index, "rest", kind, f"httpx {label}", http=(HttpRequest(method, path, body, headers),))
    data = request_bytes(method, path, body, headers=headers)
    exchange = RawExchange((data,), head=method == "HEAD", malformed=not _well_formed(method, path))
    return Case(index, "rest", kind, f"raw {label}", raw=exchange)


def _well_formed(method: str, path: str) -> bool:
    """An HTTP/1.1 request line a server must answer (however long): a standard method, an origin- or
    absolute-form target of visible ASCII without a fragment. Anything else it may also just close."""
    return method in METHODS and bool(_TARGET.fullmatch(path)) and "#" not in path


def _httpx_can_send(method: str, path: str) -> bool:
    return method in METHODS and bool(_HTTPX_SAFE_PATH.fullmatch(path)) and "#" not in path


def _encode(doc: Any) -> bytes:
    return values.dumps(doc).encode("utf-8", "surrogatepass")


# -- url ------------------------------------------------------------------------------------------
def _model_segment(rng: random.Random, target: Target) -> str:
    return rng.choice(
        [
            target.yolo,
            target.half,
            target.yolo.upper(),
            "",
            "nope",
            "%79olov5",
            f"{target.yolo}%00",
            f"{target.yolo}%2F..",
            f"{target.yolo} ",
            "..",
            f"{target.yolo}/../{target.half}",
            "y\u00f6lo",
            "x" * rng.choice([300, 5000, 70_000]),
        ]
    )


def _version_segment(rng: random.Random, target: Target) -> str:
    return rng.choice(
        [
            "",
            "",
            f"/versions/{target.yolo_version}",
            f"/versions/{target.half_version}",
            "/versions/0",
            "/versions/-1",
            "/versions/00000123",
            "/versions/" + "9" * rng.choice([19, 20, 400]),
            "/versions/abc",
            "/versions/",
            "/versions/1.5",
            "/labels/stable",
            "/labels/",
            "/labels/%2e%2e",
            "/labels/" + "l" * 2000,
            "/versions/1/labels/x",
        ]
    )


PREFIXES = (
    "/v1/models/",
    "/v1/models/",
    "/v1/models",
    "/v1/",
    "/",
    "/v2/models/",
    "//v1//models/",
    "/V1/MODELS/",
    "/v1/models/../v1/models/",
    "/monitoring/prometheus/metrics",
    "/healthz",
    "*",
    "http://127.0.0.1/v1/models/",
)
SUFFIXES = (
    "",
    ":predict",
    ":classify",
    ":regress",
    ":PREDICT",
    ":predict:predict",
    "/metadata",
    "/metadata/",
    ":nope",
    ":",
    "/metadata:predict",
    "/",
    ";predict",
    "%3Apredict",
)


def url_case(rng: random.Random, target: Target) -> tuple[str, str, bytes, str]:
    prefix = rng.choice(PREFIXES)
    suffix = rng.choice(SUFFIXES)
    query = rng.choice(["", "", "?a=b", "?signature_name=x", "?" + "q" * rng.choice([100, 70_000]), "#frag", "?%zz"])
    path = prefix + _model_segment(rng, target) + _version_segment(rng, target) + suffix + query
    method = rng.choice([*METHODS, *METHODS, "get", "FOO", "CONNECT", "TRACE"])
    body = rng.choice([b"", b"", b'{"instances": [1.0]}', rng.randbytes(rng.randint(1, 64))])
    return method, path, body, "url"


# -- json -----------------------------------------------------------------------------------------
def _hostile_document(rng: random.Random) -> bytes:
    depth = rng.choice([1000, 10_000, 100_000])
    return rng.choice(
        [
            b"[" * depth,
            b"[" * depth + b"]" * depth,
            b'{"instances": ' + b"[" * depth + b"1" + b"]" * depth + b"}",
            b'{"inputs": ' + b'{"a":' * depth + b"1" + b"}" * depth + b"}",
            b'{"instances": [' + b"9" * 100_000 + b"]}",
            b'{"instances": [1e999, -1e999, NaN]}',
            b'{"instances": [' + b'"\\ud800",' * 100 + b"1]}",
            b'{"signature_name": "' + b"\\u0000" * 1000 + b'", "instances": [1]}',
        ]
    )


def json_case(rng: random.Random, target: Target) -> tuple[str, str, bytes, str]:
    route = valid_route(rng, target)
    while route.method != "POST":
        route = valid_route(rng, target)
    if rng.random() < 0.1:
        return "POST", route.path, _hostile_document(rng), "hostile json"
    doc = route.doc
    ops = rng.randint(1, 3)
    for _ in range(ops):
        doc = values.mutate(rng, doc, signature_names=values.SIGNATURE_NAMES)
    body = _encode(doc)
    what = f"{route.what} +{ops} mutations"
    if rng.random() < 0.3:
        body = values.mutate_text(rng, body)
        what += " +text"
    return "POST", route.path, body, what


# -- images ---------------------------------------------------------------------------------------
def image_case(rng: random.Random, target: Target) -> tuple[str, str, bytes, str]:
    names, pics = [], []
    for _ in range(rng.choice([1, 1, 1, 2, 4])):
        name, data = images.pick(rng)
        names.append(name)
        pics.append(b64(data))
    route = yolo_predict(rng, target)
    form = rng.randrange(3)
    if form == 0:
        doc: Any = {"instances": pics}
    elif form == 1:
        doc = {"inputs": {"images": pics}}
    else:
        doc = {
            "signature_name": "detect",
            "inputs": {"images": pics, "conf_threshold": [0.25] * len(pics), "iou_threshold": [0.45] * len(pics)}
            | {"max_det": [10] * len(pics)},
        }
    return "POST", route.path, _encode(doc), "images " + ",".join(names)


def bomb_case(rng: random.Random, target: Target) -> tuple[str, str, bytes, str]:
    """One decompression bomb (a 13000x13000 JPEG header, a 23000x23000 1-bit PNG ...) to predict or detect."""
    name = rng.choice(sorted(images.BOMBS))
    pic = b64(images.BOMBS[name]())
    doc: Any = rng.choice(
        [
            {"instances": [pic]},
            {"inputs": {"images": [pic]}},
            {
                "signature_name": "detect",
                "instances": [{"images": pic, "conf_threshold": 0.5, "iou_threshold": 0.5, "max_det": 5}],
            },
        ]
    )
    return "POST", f"/v1/models/{target.yolo}:predict", _encode(doc), f"bomb {name}"


def shape_case(rng: random.Random, target: Target) -> tuple[str, str, bytes, str]:
    route = tensor_shape_route(rng, target)
    return route.method, route.path, _encode(route.doc), route.what


# -- huge allocations from small or mid-size bodies --------------------------------------------------
def alloc_case(rng: random.Random, target: Target) -> tuple[str, str, bytes, str]:
    mb = rng.randint(1, 4)
    count = mb * 250_000
    yolo = f"/v1/models/{target.yolo}:predict"
    half = f"/v1/models/{target.half}:predict"
    batch = 128  # each a full canvas once decoded: over the default batch limit, a budget must refuse it

    def listed(item: bytes, n: int = count) -> bytes:
        return b",".join([item] * n)

    def tiny_jpegs() -> bytes:
        jpeg = b64(images.valid_jpeg(rng, 16))["b64"].encode()
        return b'{"instances": [' + listed(b'{"b64": "' + jpeg + b'"}', batch) + b"]}"

    options: list[tuple[str, Callable[[], bytes], str]] = [
        (yolo, lambda: b'{"instances": [' + listed(b"[0]") + b"]}", f"{count} x [0] to images"),
        (yolo, lambda: b'{"signature_name": "raw", "instances": [' + listed(b"[0]") + b"]}", f"{count} x [0] raw"),
        (half, lambda: b'{"instances": [' + listed(b"[0]") + b"]}", f"{count} x [0] half"),
        (half, lambda: b'{"inputs": {"x": [' + listed(b"1.5") + b"]}}", f"{count} floats half"),
        (
            f"/v1/models/{target.half}:classify",
            lambda: b'{"signature_name": "classify_x_to_y", "examples": [' + listed(b'{"x": 1}', count // 4) + b"]}",
            f"{count // 4} examples",
        ),
        (yolo, lambda: b'{"instances": [{"b64": "' + b"A" * (mb << 20) + b'"}]}', f"{mb} MB b64 of zeros"),
        (yolo, lambda: b'{"instances": ["' + b"1" * (mb << 20) + b'"]}', f"{mb} MB string"),
        (
            half,
            lambda: b'{"inputs": {' + b",".join(b'"k%d": 0' % i for i in range(count // 8)) + b"}}",
            f"{count // 8} input names",
        ),
        (yolo, tiny_jpegs, f"{batch} tiny jpegs"),
        (yolo, lambda: b'{"instances": [' + listed(b'{"b64": "/9j/4AAQ"}', 128) + b"]}", "128 truncated jpegs"),
        (
            yolo,
            lambda: b'{"signature_name": "class_names", "instances": [' + listed(b"0") + b"]}",
            f"{count} class ids",
        ),
    ]
    path, build, what = rng.choice(options)
    return "POST", path, build(), what


def valid_case(rng: random.Random, target: Target) -> tuple[str, str, bytes, str]:
    route: Route = valid_route(rng, target)
    body = _encode(route.doc) if route.doc is not None else b""
    return route.method, route.path, body, f"valid {route.what}"


_BUILDERS = {
    "url": url_case,
    "json": json_case,
    "image": image_case,
    "bomb": bomb_case,
    "shape": shape_case,
    "alloc": alloc_case,
    "valid": valid_case,
}
