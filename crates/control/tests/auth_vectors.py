#!/usr/bin/env python3
"""Known-answer vectors for the auth_*.rs tests beside this file, computed apart from the Rust code.

Uses only the Python standard library (hmac, hashlib, base64). Run it and compare its output
with the constants in auth_request.rs.
"""

import base64
import hashlib
import hmac


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
