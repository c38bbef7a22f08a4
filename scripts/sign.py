#!/usr/bin/env python3
"""Sends one signed request to a liverelay cloud's /server API and prints the answer.

    python3 scripts/sign.py --ak AK --sk SK http://127.0.0.1:8090 METHOD PATH [JSON_BODY]

The request carries Authorization: Qiniu AK:SIGN and the X-Qiniu-Date header the cloud
requires; SIGN is computed as the README's "Live rooms" section describes. Standard library only.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import sys
import urllib.error
import urllib.parse
import urllib.request


def canonical(method, url, headers, body):
    parts = urllib.parse.urlsplit(url)
    data = f"{method} {parts.path}"
    if parts.query:
        data += f"?{parts.query}"
    data += f"\nHost: {parts.netloc}"
    content_type = headers.get("Content-Type", "")
    if content_type:
        data += f"\nContent-Type: {content_type}"
    qiniu = sorted((k.title(), v) for k, v in headers.items() if k.lower().startswith("x-qiniu-"))
    for key, value in qiniu:
        data += f"\n{key}: {value}"
    data += "\n\n"
    raw = data.encode()
    if body and content_type and content_type != "application/octet-stream":
        raw += body
    return raw


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ak", required=True)
    parser.add_argument("--sk", required=True)
    parser.add_argument("base", help="the cloud's API, e.g. http://127.0.0.1:8090")
    parser.add_argument("method")
    parser.add_argument("path", help="path and query, e.g. /server/auth/token?user_id=anna")
    parser.add_argument("body", nargs="?", default="", help="a JSON body")
    args = parser.parse_args()

    url = args.base.rstrip("/") + args.path
    body = args.body.encode()
    now = datetime.datetime.now(datetime.timezone.utc)
    headers = {"X-Qiniu-Date": now.strftime("%Y%m%dT%H%M%SZ")}
    if body:
        headers["Content-Type"] = "application/json"
    mac = hmac.new(args.sk.encode(), canonical(args.method, url, headers, body), hashlib.sha1)
    headers["Authorization"] = f"Qiniu {args.ak}:{base64.urlsafe_b64encode(mac.digest()).decode()}"
    request = urllib.request.Request(url, data=body or None, headers=headers, method=args.method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            sys.stdout.write(answer.read().decode() + "\n")
    except urllib.error.HTTPError as error:
        sys.stdout.write(error.read().decode() + "\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
