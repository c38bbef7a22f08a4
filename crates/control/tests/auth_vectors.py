#!/usr/bin/env python3
"""Known-answer vectors for the auth_*.rs tests beside this file, computed apart from the Rust code.

Uses only the Python standard library (hmac, hashlib, base64, json, urllib), plus PyJWT when
it is installed (`pip install PyJWT`) to cross-check the hand-made tokens. Run it and compare
its output with the constants in auth_request.rs, auth_jwt.rs and auth_push.rs.
"""

import base64
import hashlib
import hmac
import json
import urllib.parse


def b64(raw, pad=True):
    text = base64.urlsafe_b64encode(raw).decode()
    return text if pad else text.rstrip("=")


def sha1_sign(key, data):
    return b64(hmac.new(key, data, hashlib.sha1).digest())


AK, SK = "ak-test", b"liverelay-sk-0001"
NOW = 1741944413  # 2025-03-14T09:26:53Z
DATE = "20250314T092653Z"

print("== server request signing ==")
cases = {
    # GET, query, X-Qiniu headers sent in mixed order and case: sorted by canonical name.
    "get_with_headers": (
        "GET /server/live/list?page_num=1&page_size=20\n"
        "Host: rooms.example.com\n"
        f"X-Qiniu-Date: {DATE}\n"
        "X-Qiniu-Meta-A: one\n"
        "X-Qiniu-Meta-B: two\n"
        "\n"
    ).encode(),
    # JSON body: signed.
    "post_json": (
        "POST /server/live/create\n"
        "Host: rooms.example.com\n"
        "Content-Type: application/json\n"
        f"X-Qiniu-Date: {DATE}\n"
        "\n"
        '{"anchor_id":"u1","title":"hi"}'
    ).encode(),
    # Binary body: its type is signed, the bytes are not.
    "post_octet_stream": (
        "POST /server/upload\n"
        "Host: rooms.example.com\n"
        "Content-Type: application/octet-stream\n"
        f"X-Qiniu-Date: {DATE}\n"
        "\n"
    ).encode(),
}
for name, data in cases.items():
    print(name, repr(data))
    print(f"  Qiniu {AK}:{sha1_sign(SK, data)}")

print("== client JWT (HS256) ==")
JWT_KEY = b"liverelay-jwt-key"


def jwt_hs256(header, payload, key=JWT_KEY, alg=hashlib.sha256):
    head = b64(json.dumps(header, separators=(",", ":")).encode(), pad=False)
    body = b64(json.dumps(payload, separators=(",", ":")).encode(), pad=False)
    signing_input = f"{head}.{body}".encode()
    return f"{head}.{body}." + b64(hmac.new(key, signing_input, alg).digest(), pad=False)


HS256 = {"alg": "HS256", "typ": "JWT"}
user = {"exp": NOW + 3600, "iat": NOW, "AppId": "app1", "UserId": "user-42",
        "DeviceId": "dev-7", "Role": ""}
admin = dict(user, UserId="root", Role="admin")
expired = dict(user, exp=NOW - 1)
# Vendor-server style: Go field order, no iat.
vendor = {"AppId": "app1", "UserId": "user-42", "DeviceId": "dev-7", "Role": "",
          "exp": NOW + 60}
tokens = {
    "user": jwt_hs256(HS256, user),
    "admin": jwt_hs256(HS256, admin),
    "expired": jwt_hs256(HS256, expired),
    "vendor": jwt_hs256(HS256, vendor),
    "hs512": jwt_hs256({"alg": "HS512", "typ": "JWT"}, user, alg=hashlib.sha512),
    "none": b64(json.dumps({"alg": "none", "typ": "JWT"}, separators=(",", ":")).encode(),
                pad=False)
    + "." + b64(json.dumps(user, separators=(",", ":")).encode(), pad=False) + ".",
}
for name, token in tokens.items():
    print(name, token)
try:
    import jwt as pyjwt

    for name, payload in [("user", user), ("admin", admin), ("expired", expired)]:
        assert pyjwt.encode(payload, JWT_KEY, algorithm="HS256") == tokens[name], name
    assert pyjwt.encode(user, None, algorithm="none") == tokens["none"]
    print("PyJWT", pyjwt.__version__, "agrees")
except ImportError:
    print("PyJWT not installed; hand-made tokens only")

print("== push URLs ==")
PUBLISH_KEY = b"pubkey-123"
EXPIRE = NOW + 3600
BASE, STREAM = "rtmp://ingest.example.com:1935/live", "room-1001"


def push(path, params, key, ak=None):
    # Sorted by name, escaped as a Go url.Values encoder does (quote_plus keeps -_.~).
    query = urllib.parse.urlencode(sorted(params, key=lambda kv: kv[0]))
    sign = sha1_sign(key, f"{path}?{query}".encode())
    token = f"{ak}:{sign}" if ak else sign
    return f"rtmp://ingest.example.com:1935{path}?{query}&token={token}"


print("expiry", push(f"/live/{STREAM}", [("expire", str(EXPIRE))], PUBLISH_KEY))
print("expiry_sk", push(f"/live/{STREAM}", [("e", str(EXPIRE))], SK, AK))
# Parameters already present are kept, re-encoded and signed; an old token is dropped.
print("expiry_sk_params",
      push(f"/live/{STREAM}", [("zz", "a b"), ("aa", "1/2"), ("e", str(EXPIRE))], SK, AK))
