"""Generated hostile POST /wechat requests, for tests/test_security_fuzz.py and bench/fuzz_webhook.py.

Each case is one request: random and truncated XML, wrong encodings, entity tricks (billion
laughs, external entities), deflate/gzip bombs with Content-Encoding, oversize bodies, unicode
edge cases, huge numbers in fields, wrong or missing signatures, and well-formed pushes among
them. Most carry a valid signature, so the body is really parsed: a wrong signature is refused
before any byte of the body is read.
"""

from __future__ import annotations

import base64
import gzip
import random
import secrets
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from wechat.protocol import encrypt_for_push, sign
from wechat.simulator import build_xml

ACCOUNT = "gh_fuzzaccount01"
STATUSES_ALLOWED = {200, 400, 403, 404, 405, 413, 415, 503}  # 503: deliberate (storage unavailable)


@dataclass
class Case:
    kind: str
    body: bytes
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fuzzer:
    token: str
    app_id: str
    aes_key: str | None
    max_body: int
    rng: random.Random = field(default_factory=random.Random)

    # ---- the pieces ---------------------------------------------------------------------------

    def openid(self) -> str:
        return "o" + "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789_-") for _ in range(27))

    def signed_query(self, openid: str, timestamp: int | None = None) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = secrets.token_hex(8)
        return {"timestamp": ts, "nonce": nonce, "signature": sign(self.token, ts, nonce), "openid": openid}

    def fields(self, openid: str, content: str | None = None, **extra: object) -> dict[str, object]:
        base: dict[str, object] = {
            "ToUserName": ACCOUNT,
            "FromUserName": openid,
            "CreateTime": int(time.time()),
            "MsgType": "text",
            "Content": content if content is not None else self.unicode_text(),
            "MsgId": self.rng.randrange(1, 2**62),
        }
        base.update(extra)
        return base

    def unicode_text(self) -> str:
        pools = [
            "查余额充话费流量套餐人工",
            "\u200b\u200c\u200d\u2060\ufeff",  # zero-width, BOM
            "\u202e\u202d\u2066\u2069",  # bidi overrides
            "😀👨‍👩‍👧‍👦🏳️‍🌈🇨🇳",  # emoji, ZWJ sequences, flags
            "é\u0301\u0308\u20dd",  # combining marks
            "\U0001d54f\U00010348\U000e0001",  # astral planes, tag characters
            "＜ｘｍｌ＞１３８０００００００１",  # full-width
            "\x01\x07\x1b\x7f",  # control characters (invalid in XML 1.0)
            "<>&'\"]]>",
            "+86 138 0000 0001 验证码 482913",
            "%s%n{0}${jndi:ldap://x}",
        ]
        length = self.rng.choice([0, 1, 5, 40, 300, 2000])
        return "".join(self.rng.choice(self.rng.choice(pools)) for _ in range(length))

    def push(self, fields: dict[str, object], kind: str, encrypt: bool | None = None) -> Case:
        openid = str(fields.get("FromUserName", self.openid()))
        query = self.signed_query(openid)
        xml = build_xml(fields)
        use_aes = self.aes_key is not None and (self.rng.random() < 0.3 if encrypt is None else encrypt)
        if use_aes:
            assert self.aes_key is not None
            encrypted = encrypt_for_push(self.aes_key, self.app_id, xml)
            xml = build_xml({"ToUserName": ACCOUNT, "Encrypt": encrypted})
            query.update(
                encrypt_type="aes", msg_signature=sign(self.token, query["timestamp"], query["nonce"], encrypted)
            )
        return Case(kind, xml.encode("utf-8"), query, {"Content-Type": "text/xml"})

    def raw(self, body: bytes, kind: str, headers: dict[str, str] | None = None) -> Case:
        return Case(kind, body, self.signed_query(self.openid()), {"Content-Type": "text/xml", **(headers or {})})

    # ---- the generators ------------------------------------------------------------------------

    def valid_text(self) -> Case:
        return self.push(self.fields(self.openid()), "valid_text")

    def weird_fields(self) -> Case:
        openid = self.openid()
        huge = "9" * self.rng.choice([19, 20, 40, 400])
        extra = self.rng.choice(
            [
                {"MsgId": huge},
                {"MsgId": "-1"},
                {"MsgId": "abc"},
                {"CreateTime": huge},
                {"CreateTime": "-99999999999"},
                {"MsgType": self.rng.choice(["", "image", "video", "location", "link", "x" * 500, "text\x00"])},
                {"MsgType": "event", "Event": self.rng.choice(["", "subscribe", "CLICK", "VIEW", "x" * 300])},
                {"MsgType": "event", "Event": "CLICK", "EventKey": "k" * 2000},
                {"MsgType": "voice", "MediaId": "m" * 300, "Format": "amr", "Recognition": self.unicode_text()},
                {"ToUserName": ""},
                {"Content": "x" * (self.max_body // 2)},
            ]
        )
        return self.push(self.fields(openid, **extra), "weird_fields")

    def random_bytes(self) -> Case:
        size = self.rng.choice([0, 1, 16, 500, 4000, self.max_body - 10])
        return self.raw(self.rng.randbytes(size), "random_bytes")

    def random_xml(self) -> Case:
        tags = ["xml", "a", "Content", "MsgType", "FromUserName", "x:y", "1bad", "ü", ""]

        def element(depth: int) -> str:
            if depth > 6 or self.rng.random() < 0.3:
                return self.rng.choice(["text", "&amp;", "&#0;", "&#x1F600;", "<![CDATA[]]]]>", "&bogus;", ""])
            tag = self.rng.choice(tags)
            children = "".join(element(depth + 1) for _ in range(self.rng.randrange(0, 4)))
            closing = self.rng.choice([tag, tag, tag, "other"])
            attrs = self.rng.choice(["", ' a="1"', " a='<'", ' xmlns:x="urn:x"', " a=1"])
            return f"<{tag}{attrs}>{children}</{closing}>"

        return self.raw(element(0).encode("utf-8", "surrogatepass"), "random_xml")

    def truncated_xml(self) -> Case:
        case = self.push(self.fields(self.openid()), "truncated_xml")
        case.body = case.body[: self.rng.randrange(0, max(1, len(case.body)))]
        return case

    def deep_nesting(self) -> Case:
        depth = self.rng.choice([1000, 5000, (self.max_body - 20) // 7])
        return self.raw(b"<xml>" + b"<a>" * depth + b"</a>" * depth + b"</xml>", "deep_nesting")

    def wrong_encoding(self) -> Case:
        openid = self.openid()
        xml = build_xml(self.fields(openid, "查余额"))
        body = self.rng.choice(
            [
                xml.encode("gbk"),
                xml.encode("utf-16"),
                xml.encode("utf-16-le"),
                xml.encode("utf-32"),
                b"\xef\xbb\xbf" + xml.encode("utf-8"),
                ('<?xml version="1.0" encoding="GBK"?>' + xml).encode("gbk"),
                ('<?xml version="1.0" encoding="ISO-8859-1"?>' + xml).encode("utf-8"),
                ('<?xml version="1.0" encoding="UTF-7"?>' + xml).encode("utf-8"),
                xml.encode("utf-8").replace(b"\xe6", b"\xc0\xaf"),  # overlong / invalid sequences
                "\ud800".join(xml.split("查")).encode("utf-8", "surrogatepass"),  # lone surrogates
            ]
        )
        return Case("wrong_encoding", body, self.signed_query(openid), {"Content-Type": "text/xml"})

    def entity_trick(self) -> Case:
        laughs = '<!ENTITY lol "lol">' + "".join(
            f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
        )
        body = self.rng.choice(
            [
                f'<?xml version="1.0"?><!DOCTYPE xml [{laughs}]><xml><Content>&lol9;</Content></xml>',
                '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                "<xml><Content>&xxe;</Content></xml>",
                '<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd"> %p;]><xml/>',
                '<!DOCTYPE xml SYSTEM "http://127.0.0.1:1/evil.dtd"><xml><a>1</a></xml>',
                '<xml xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="file:///etc/passwd"/></xml>',
                '<!DOCTYPE xml [<!ENTITY a "' + "x" * 5000 + '">]><xml><Content>' + "&a;" * 2000 + "</Content></xml>",
                "<?xml-stylesheet href='http://127.0.0.1:1/x.xsl'?><xml><Content>x</Content></xml>",
                '<!DoCtYpE xml [ <!eNtItY x "y"> ]><xml/>',
            ]
        )
        return self.raw(body.encode("utf-8"), "entity_trick")

    def compressed(self) -> Case:
        """A body sent compressed: deflate/gzip bombs, and mislabelled ones."""
        size = self.rng.choice([10**6, 10**7, 5 * 10**7])
        label = self.rng.choice(["gzip", "deflate", "deflate-raw", "br", "gzip, deflate", "identity, gzip", "x-gzip"])
        kind = label if label in ("deflate", "deflate-raw") else "gzip"
        body = _bomb(kind, size) if label != "br" else self.rng.randbytes(200)  # br: the label alone
        if self.rng.random() < 0.2:
            body = body[: len(body) // 2]  # truncated stream
        return self.raw(body, "compressed", {"Content-Encoding": "deflate" if label == "deflate-raw" else label})

    def oversize(self) -> Case:
        size = self.rng.choice([self.max_body + 1, self.max_body * 2, 10 * self.max_body])
        case = self.push(self.fields(self.openid(), "x" * size), "oversize", encrypt=False)
        return case

    def bad_signature(self) -> Case:
        case = self.push(self.fields(self.openid()), "bad_signature")
        variant = self.rng.randrange(7)
        if variant == 0:
            case.query["signature"] = "0" * 40
        elif variant == 1:
            case.query.pop("signature")
        elif variant == 2:
            case.query["timestamp"] = str(int(time.time()) - 100_000)
            case.query["signature"] = sign(self.token, case.query["timestamp"], case.query["nonce"])
        elif variant == 3:
            case.query["timestamp"] = "9" * 40
            case.query["signature"] = sign(self.token, case.query["timestamp"], case.query["nonce"])
        elif variant == 4:
            case.query["openid"] = self.openid()  # not the sender
        elif variant == 5 and "msg_signature" in case.query:
            case.query["msg_signature"] = "f" * 40
        else:
            case.query = {k: v * 500 for k, v in case.query.items()}  # long query
        return case

    def odd_headers(self) -> Case:
        case = self.push(self.fields(self.openid()), "odd_headers")
        case.headers = self.rng.choice(
            [
                {"Content-Type": "application/x-www-form-urlencoded"},
                {"Content-Type": "multipart/form-data; boundary=" + "-" * 70},
                {"Content-Type": "text/xml; charset=gbk"},
                {"Content-Type": "text/plain"},
                {},
            ]
        )
        return case

    def base64_junk(self) -> Case:
        """AES-mode envelopes whose ciphertext is junk (padding, wrong app id, not base64)."""
        openid = self.openid()
        query = self.signed_query(openid)
        junk = self.rng.choice(
            [
                base64.b64encode(self.rng.randbytes(self.rng.choice([16, 32, 33, 1000]))).decode(),
                "not base64 ~~~",
                "",
                encrypt_for_push(self.aes_key, "wxotherapp00000001", "<xml/>") if self.aes_key else "x",
            ]
        )
        body = build_xml({"ToUserName": ACCOUNT, "Encrypt": junk})
        query.update(encrypt_type="aes", msg_signature=sign(self.token, query["timestamp"], query["nonce"], junk))
        return Case("aes_junk", body.encode("utf-8"), query, {"Content-Type": "text/xml"})

    def generators(self) -> list[tuple[Callable[[], Case], int]]:
        """Each generator with its weight."""
        return [
            (self.valid_text, 6),
            (self.weird_fields, 10),
            (self.random_bytes, 10),
            (self.random_xml, 14),
            (self.truncated_xml, 10),
            (self.deep_nesting, 3),
            (self.wrong_encoding, 10),
            (self.entity_trick, 10),
            (self.compressed, 4),
            (self.oversize, 4),
            (self.bad_signature, 10),
            (self.odd_headers, 5),
            (self.base64_junk, 4),
        ]

    def cases(self, count: int) -> list[Case]:
        generators = self.generators()
        makers = [maker for maker, _ in generators]
        weights = [weight for _, weight in generators]
        return [self.rng.choices(makers, weights)[0]() for _ in range(count)]


@cache
def _bomb(kind: str, size: int) -> bytes:
    """`size` bytes of XML compressed as gzip, deflate (zlib) or raw deflate (made once each)."""
    plain = b"<xml><Content>" + b"A" * size + b"</Content></xml>"
    if kind == "deflate":
        return zlib.compress(plain, 9)
    if kind == "deflate-raw":
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        return compressor.compress(plain) + compressor.flush()
    return gzip.compress(plain, compresslevel=9)
