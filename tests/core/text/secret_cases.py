"""Real-format secrets and personal data, generated afresh at each run (nothing live is stored in the repo), and
placed in real page text: the recall set of the redaction tests and of bench/redact.py."""

from __future__ import annotations

import base64
import bisect
import ipaddress
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"
PASSWORD = ALNUM + "!%^*-_+=.@"


@dataclass(frozen=True, slots=True)
class Placed:
    kind: str
    value: str
    """The secret itself: it must not survive redaction."""
    lines: str
    """The line(s) holding it, as a page would show them."""


def _s(rng: random.Random, chars: str, n: int) -> str:
    return "".join(rng.choice(chars) for _ in range(n))


def _password(rng: random.Random, n: int = 16) -> str:
    while True:  # a generated password: letters, digits and symbols (as password managers make them)
        pw = _s(rng, PASSWORD, n)
        if any(c.isdigit() for c in pw) and any(c.isupper() for c in pw) and any(c.islower() for c in pw):
            return pw


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def aws_access_key(rng: random.Random) -> Placed:
    v = "AKIA" + _s(rng, string.ascii_uppercase + "234567", 16)
    return Placed("aws_access_key", v, rng.choice([f"aws_access_key_id = {v}", f'    "AccessKeyId": "{v}",',
                                                   f"export AWS_ACCESS_KEY_ID={v}"]))  # fmt: skip


def aws_secret_key(rng: random.Random) -> Placed:
    v = _s(rng, B64, 40)
    return Placed("aws_secret_key", v, rng.choice([f'aws_secret_access_key = "{v}"', f"aws_secret_access_key = {v}",
                                                   f"export AWS_SECRET_ACCESS_KEY={v}"]))  # fmt: skip


def github_token(rng: random.Random) -> Placed:
    v = "ghp_" + _s(rng, ALNUM, 36)
    return Placed("github_token", v, rng.choice([f'GITHUB_TOKEN = "{v}"', f"git clone https://{v}@github.com/o/r.git",
                                                 f"curl -H 'Authorization: token {v}' https://api.github.com/user"]))


def slack_token(rng: random.Random) -> Placed:
    v = f"xoxb-{_s(rng, string.digits, 12)}-{_s(rng, string.digits, 13)}-{_s(rng, ALNUM, 24)}"
    return Placed("slack_token", v, rng.choice([f"client = WebClient(token='{v}')", f"SLACK_BOT_TOKEN={v}"]))


def stripe_key(rng: random.Random) -> Placed:
    v = "sk_live_" + _s(rng, ALNUM, 24)
    return Placed("stripe_key", v, rng.choice([f'stripe.api_key = "{v}"', f"const stripe = require('stripe')('{v}');"]))


def private_key(rng: random.Random) -> Placed:
    body = [_s(rng, B64, 64) for _ in range(rng.randint(12, 25))] + [_s(rng, B64, 40) + "=="]
    kind = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "OPENSSH PRIVATE KEY", "EC PRIVATE KEY"])
    block = "\n".join([f"-----BEGIN {kind}-----", *body, f"-----END {kind}-----"])
    return Placed("private_key", body[len(body) // 2], block)


def jwt(rng: random.Random) -> Placed:
    head = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": _s(rng, string.digits, 10), "iat": rng.randint(10**9, 2 * 10**9)}
    v = f"{head}.{_b64url(json.dumps(claims).encode())}.{_b64url(rng.randbytes(32))}"
    return Placed("jwt", v, rng.choice([f"Authorization: Bearer {v}", f'token = "{v}"', f"curl -H 'X-Jwt: {v}' $URL"]))


def connection_url(rng: random.Random) -> Placed:
    v = _s(rng, ALNUM, rng.randint(12, 20))
    user, db = _s(rng, string.ascii_lowercase, 6), _s(rng, string.ascii_lowercase, 5)
    scheme = rng.choice(["postgres", "postgresql", "mysql", "mongodb", "redis", "amqp"])
    url = f"{scheme}://{user}:{v}@db{rng.randint(1, 99)}.{_s(rng, string.ascii_lowercase, 7)}.com:5432/{db}"
    return Placed("password", v, rng.choice([f'DATABASE_URL = "{url}"', f"engine = create_engine('{url}')", url]))


def password_assignment(rng: random.Random) -> Placed:
    v = _password(rng)
    return Placed("password", v, rng.choice([f'password = "{v}"', f"DB_PASSWORD={v}", f'    "password": "{v}",',
                                             f"$password = '{v}';", f"spring.datasource.password={v}"]))  # fmt: skip


def high_entropy(rng: random.Random) -> Placed:
    v = rng.choice([_s(rng, "0123456789abcdef", 64), _s(rng, URLSAFE, 40)])
    name = rng.choice(["SECRET_KEY", "api_token", "clientSecret", "ACCESS_TOKEN", "auth_token", "signing_key"])
    return Placed("high_entropy", v, rng.choice([f'{name} = "{v}"', f"{name}: '{v}'", f'"{name}": "{v}",']))


def email(rng: random.Random) -> Placed:
    v = f"{_s(rng, string.ascii_lowercase, 6)}.{_s(rng, string.ascii_lowercase, 7)}{rng.randint(1, 99)}@" \
        f"{rng.choice(['gmail.com', 'outlook.com', 'protonmail.com', 'yahoo.co.jp', 'web.de', 'mail.ru'])}"  # fmt: skip
    return Placed("email", v, rng.choice([f"Contact: {v}", f'author_email="{v}",', f"Signed-off-by: A B <{v}>"]))


def ip_address(rng: random.Random) -> Placed:
    while True:
        addr = ipaddress.IPv4Address(rng.getrandbits(32))
        if addr.is_global and not addr.is_multicast:
            break
    v = str(addr)
    return Placed("ip_address", v, rng.choice([f"ssh root@{v}", f'HOST = "{v}"', f"Listen {v}:8080",
                                               f"Connection from {v} port 52144"]))  # fmt: skip


GENERATORS: tuple[Callable[[random.Random], Placed], ...] = (
    aws_access_key, aws_secret_key, github_token, slack_token, stripe_key, private_key, jwt, connection_url,
    password_assignment, high_entropy, email, ip_address,
)  # fmt: skip

DOCUMENTED = [
    'aws_access_key_id = "AKIAIOSFODNN7EXAMPLE"',
    'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
    "export AWS_ACCESS_KEY_ID=AKIAI44QH8DHBEXAMPLE",
    'GITHUB_TOKEN = "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
    "stripe.api_key = 'sk_live_xxxxxxxxxxxxxxxxxxxxxxxx'",
    'password = "<your-password>"',
    "DB_PASSWORD=${DB_PASSWORD}",
    'password: "changeme"',
    "API_KEY=your_api_key_here",
    "postgres://user:password@localhost:5432/mydb",
    "mysql://scott:tiger@localhost/test",
    "git config user.email you@example.com",
    "Contact user@example.org or admin@mail.example.net",
    "jane@server.test, root@host.invalid, me@box.example, dev@localhost",
    "git clone git@github.com:org/repo.git",
    "npm install react@18.2.0 lodash@4.17.21",
    "<img src='logo@2x.png'>",
    "server 127.0.0.1:8000, [::1]:8000, 0.0.0.0",
    "LAN 10.0.0.12, 172.16.4.1, 192.168.1.100",
    "docs 192.0.2.1, 198.51.100.7, 203.0.113.42, 2001:db8::1, 2001:db8:85a3::8a2e:370:7334",
    "networks 93.184.216.0/24 and 2606:2800::/32",
    "version 4.2.1.0, v1.2.3.4, release 10.4.12.1, 1.2.3.4.5, Section 27.2.5.2, 3.6.23.2",
    "multicast 239.255.255.250:1900",
    "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
    "-----BEGIN PRIVATE KEY-----\n<your private key>\n-----END PRIVATE KEY-----",
    'SECRET_KEY = "django-insecure-change-me"',
    "password = os.environ['DB_PASSWORD']",
    "password: process.env.DB_PASSWORD",
    'password_encryption = "scram-sha-256"',
]
"""Documented example values, placeholders, reserved names and addresses, versions: never redacted."""


def place(text: str, placed: Placed, rng: random.Random) -> str:
    """`text` with the placed lines inserted at a line boundary: inside a code block when the page has one."""
    lines = text.split("\n")
    fenced = [i for i, line in enumerate(lines) if line.startswith("```")]
    at = rng.choice(fenced[::2]) + 1 if len(fenced) >= 2 else rng.randint(0, len(lines))
    return "\n".join([*lines[:at], placed.lines, *lines[at:]])


def lines_found(text: str) -> tuple[set[int], dict[int, set[str]]]:
    """The page's code lines (non-empty lines inside ``` fences), and the kinds found on each line that has any."""
    from webrecall.core.text.redact import find

    lines, inside, code = text.split("\n"), False, set()
    for i, line in enumerate(lines):
        if line.startswith("```"):
            inside = not inside
        elif inside and line.strip():
            code.add(i)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    found: dict[int, set[str]] = {}
    for f in find(text):
        found.setdefault(bisect.bisect_right(starts, f.start) - 1, set()).add(f.kind)
    return code, found
