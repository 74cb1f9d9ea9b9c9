#!/usr/bin/env python3
"""Re-check an event-spine export, independently of event-spine (Python 3 standard library only).

Usage:  python3 verify_chain.py [EXPORT.jsonl]      (reads standard input when no file, or "-")

The export is JSON Lines: one stored event per line, every field of DESIGN §1, with
`payload` as a JSON object. For each event, in file order, this checks

  * seq is dense: 1, 2, 3, ... (an export that starts later is checked from where it starts);
  * payload_hash = lowercase hex(SHA-256(UTF-8(JCS(payload))));
  * event_hash   = lowercase hex(SHA-256(UTF-8(JCS(record)))), where record is the event
    without event_hash and payload (payload_hash stays), optional fields without a value
    left out;
  * previous_hash = the event_hash of seq - 1 (64 zeros for seq 1).

JCS is the JSON Canonicalization Scheme, RFC 8785: object members sorted by the UTF-16
code units of their names, numbers formatted as ECMAScript formats them, strings with the
minimal JSON escapes, no whitespace. Python's own float repr and json.dumps differ from it
in places (1e+21 vs 1e21, 1e-07 vs 1e-7, 100.0 vs 100, key order), so both are done here.

Exit status: 0 when the chain is intact; 1 with the first bad seq and the reason on
standard error; 2 when the file cannot be read.
"""

import hashlib
import json
import math
import sys
from decimal import Decimal

GENESIS_HASH = "0" * 64

# The stored fields of DESIGN §1, and which of them form the hashed record.
STRING_FIELDS = (
    "id", "event_type", "domain", "entity_type", "action", "entity_id", "actor_id",
    "actor_type", "organization_id", "environment", "timestamp", "severity",
    "payload_hash", "previous_hash", "event_hash",
)
OPTIONAL_FIELDS = ("entity_name",)
RECORD_FIELDS = (
    "action", "actor_id", "actor_type", "domain", "entity_id", "entity_name", "entity_type",
    "environment", "event_type", "id", "organization_id", "payload_hash", "previous_hash",
    "seq", "severity", "timestamp",
)


class Invalid(Exception):
    """The event (or the line) does not verify; the message says why."""


# --- RFC 8785 ------------------------------------------------------------------------


def ecmascript_number(x):
    """ECMA-262 Number::toString(x) for a finite double, as RFC 8785 §3.2.2.3 requires."""
    if math.isnan(x) or math.isinf(x):
        raise Invalid("a number is NaN or infinite, which JSON cannot carry")
    if x == 0:
        return "0"  # also -0
    if x < 0:
        return "-" + ecmascript_number(-x)
    # repr gives the shortest digit string that reads back as x (the digits ECMAScript
    # chooses too); only the layout differs. Take x = 0.DIGITS × 10^n.
    _, digit_tuple, exponent = Decimal(repr(x)).as_tuple()
    digits = "".join(str(d) for d in digit_tuple).rstrip("0")
    exponent += len(digit_tuple) - len(digits)
    k = len(digits)
    n = exponent + k
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return mantissa + "e" + ("+" if e >= 0 else "-") + str(abs(e))


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def jcs_string(s):
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif code < 0x20:
            out.append("\\u%04x" % code)
        elif 0xD800 <= code <= 0xDFFF:
            raise Invalid("a string holds an unpaired UTF-16 surrogate")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def utf16_key(name):
    # Big-endian UTF-16 bytes compare exactly as the UTF-16 code units do.
    return name.encode("utf-16-be", "surrogatepass")


def jcs(value):
    """RFC 8785 canonical text of a value parsed by json.loads."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        # A JSON number is an IEEE-754 double: the integer as a double, then formatted.
        try:
            return ecmascript_number(float(value))
        except OverflowError:
            raise Invalid("a number is beyond the range of an IEEE-754 double")
    if isinstance(value, float):
        return ecmascript_number(value)
    if isinstance(value, str):
        return jcs_string(value)
    if isinstance(value, list):
        return "[" + ",".join(jcs(v) for v in value) + "]"
    if isinstance(value, dict):
        names = sorted(value.keys(), key=utf16_key)
        return "{" + ",".join(jcs_string(k) + ":" + jcs(value[k]) for k in names) + "}"
    raise Invalid("a value of type %s is not JSON" % type(value).__name__)


def sha256_hex(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- reading the export --------------------------------------------------------------


def _no_duplicates(pairs):
    obj = {}
    for name, value in pairs:
        if name in obj:
            raise Invalid("member name %s appears twice in one object" % json.dumps(name))
        obj[name] = value
    return obj


def _no_constant(name):
    raise Invalid("%s is not JSON" % name)


def parse_line(line):
    try:
        return json.loads(line, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except ValueError as err:
        raise Invalid("not JSON: %s" % err)


def check_shape(ev):
    if not isinstance(ev, dict):
        raise Invalid("the line is not a JSON object")
    seq = ev.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise Invalid("seq is missing or not a positive integer")
    for name in STRING_FIELDS:
        if not isinstance(ev.get(name), str):
            raise Invalid("%s is missing or not a string" % name)
    for name in OPTIONAL_FIELDS:
        if ev.get(name) is not None and not isinstance(ev[name], str):
            raise Invalid("%s is not a string" % name)
    if "payload" in ev and not isinstance(ev["payload"], dict):
        raise Invalid("payload is not a JSON object")


def verify_event(ev, expected_seq, previous_event_hash):
    """Check one event; returns its event_hash. Raises Invalid with the reason."""
    seq = ev["seq"]
    if expected_seq is not None and seq != expected_seq:
        raise Invalid("seq %d follows seq %d: the sequence must be dense" % (seq, expected_seq - 1))
    if "payload" in ev:
        actual = sha256_hex(jcs(ev["payload"]))
        if actual != ev["payload_hash"]:
            raise Invalid("payload_hash %s does not match the payload (SHA-256 of its JCS is %s)"
                          % (ev["payload_hash"], actual))
    record = {name: ev[name] for name in RECORD_FIELDS if ev.get(name) is not None}
    actual = sha256_hex(jcs(record))
    if actual != ev["event_hash"]:
        raise Invalid("event_hash %s does not match the record (SHA-256 of its JCS is %s)"
                      % (ev["event_hash"], actual))
    if previous_event_hash is not None and ev["previous_hash"] != previous_event_hash:
        raise Invalid("previous_hash %s is not the event_hash of seq %d (%s)"
                      % (ev["previous_hash"], seq - 1, previous_event_hash))
    return ev["event_hash"]


def verify_stream(lines):
    """Returns (ok, message)."""
    expected_seq = None
    previous_event_hash = None
    first_seq = None
    count = 0
    redacted = 0
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        seq = None
        try:
            ev = parse_line(line)
            if isinstance(ev, dict) and isinstance(ev.get("seq"), int):
                seq = ev["seq"]
            check_shape(ev)
            if first_seq is None:
                first_seq = seq
                if seq == 1:
                    previous_event_hash = GENESIS_HASH
            previous_event_hash = verify_event(ev, expected_seq, previous_event_hash)
        except Invalid as err:
            where = "seq %d (line %d)" % (seq, line_number) if seq is not None else "line %d" % line_number
            return False, "FAIL at %s: %s" % (where, err)
        expected_seq = seq + 1
        count += 1
        if "payload" not in ev:
            redacted += 1
    if count == 0:
        return False, "FAIL: the export holds no event"
    note = ""
    if first_seq != 1:
        note += "; the export starts at seq %d, so that event's previous_hash is taken on trust" % first_seq
    if redacted:
        note += "; %d event(s) carry no payload, checked through payload_hash only" % redacted
    return True, "OK: %d events, seq %d..%d, chain intact; head event_hash %s%s" % (
        count, first_seq, expected_seq - 1, previous_event_hash, note)


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1] in ("-h", "--help")):
        sys.stderr.write(__doc__)
        return 2
    path = argv[1] if len(argv) == 2 else "-"
    try:
        if path == "-":
            stream = open(sys.stdin.fileno(), "r", encoding="utf-8", closefd=False)
        else:
            stream = open(path, "r", encoding="utf-8")
        with stream:
            ok, message = verify_stream(stream)
    except (OSError, UnicodeDecodeError) as err:
        sys.stderr.write("cannot read %s: %s\n" % (path, err))
        return 2
    if ok:
        print(message)
        return 0
    sys.stderr.write(message + "\n")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
