"""The local bucket module's cloud API: an S3-compatible server (moto's in the tests), over plain HTTP.

python3 s3.py create ENDPOINT BUCKET DAYS  (DAYS 0: no expiry)
python3 s3.py delete ENDPOINT BUCKET       (its objects first, as a cloud's force_destroy does)
Standard library only: the operator's image has python3 and nothing else is needed.
"""

import re
import sys
import urllib.error
import urllib.request

LIFECYCLE = ("<LifecycleConfiguration><Rule><ID>expire</ID><Filter><Prefix></Prefix></Filter><Status>Enabled</Status>"
             "<Expiration><Days>{days}</Days></Expiration></Rule></LifecycleConfiguration>")


#: An S3-compatible stand-in does not check signatures, but moto's treats a request without one as anonymous
#: (which may not delete): an Authorization header of the right shape, with the local module's identity.
AUTHORIZATION = ("AWS4-HMAC-SHA256 Credential=communityhub-local/20260101/us-east-1/s3/aws4_request, "
                 "SignedHeaders=host, Signature=0")


def call(method: str, url: str, body: bytes | None = None) -> bytes:
    headers = {"Authorization": AUTHORIZATION}
    if body is not None:
        headers["Content-Type"] = "application/xml"
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def main(action: str, endpoint: str, bucket: str, days: str = "0") -> None:
    base = f"{endpoint.rstrip('/')}/{bucket}"
    if action == "create":
        call("PUT", base)
        if int(days) > 0:
            call("PUT", f"{base}?lifecycle", LIFECYCLE.format(days=int(days)).encode())
    elif action == "delete":
        try:
            listing = call("GET", f"{base}?list-type=2").decode()
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return  # already gone
            raise
        for key in re.findall(r"<Key>([^<]+)</Key>", listing):
            call("DELETE", f"{base}/{urllib.request.quote(key)}")
        call("DELETE", base)
    else:
        raise SystemExit(f"unknown action {action}")


if __name__ == "__main__":
    main(*sys.argv[1:])
