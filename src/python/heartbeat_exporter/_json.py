"""JSON parsing that accepts and rejects exactly what the C++ reader's RapidJSON does.

Python's json module differs from RapidJSON 1.1.0 (with kParseIterativeFlag and
kParseValidateEncodingFlag) where it matters for a heartbeat's verdict: it accepts NaN and
Infinity and numbers too big for a double, keeps integers of any size, recurses (a deeply nested
document raises RecursionError), and accepts lone surrogate escapes. This parser is iterative,
and leaves only the messages to differ.
"""

import json.decoder
import math
import re
from typing import Any, List, Tuple, Union

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
# Pairs are joined by the string scanner, so any high surrogate left over stood alone, which
# RapidJSON refuses. A lone low surrogate it accepts (and decodes into bytes that are not UTF-8).
_HIGH_SURROGATE = re.compile("[\ud800-\udbff]")
_LITERALS = (("true", True), ("false", False), ("null", None))
# The messages are RapidJSON's, for the errors that json's string scanner finds.
_STRING_ERRORS = (
    ("Unterminated string", "Missing a closing quotation mark in string."),
    ("Invalid \\uXXXX escape", "Incorrect hex digit after \\u escape in string."),
    ("Invalid \\escape", "Invalid escape character in string."),
    ("Invalid control character", "Invalid escape character in string."),
)
_INT64_MIN = -(2**63)
_UINT64_END = 2**64
# Longer digit strings cannot fit in 64 bits; they are not handed to int(), which refuses more
# than 4,300 digits.
_MAX_INTEGER_DIGITS = 20


class JsonError(ValueError):
    """Why text is not JSON, and the offset (in characters) of the first wrong one."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at offset {offset}")
        self.message = message
        self.offset = offset


class JsonObject(list):  # of Tuple[str, Any]
    """An object's members as (name, value) pairs in document order, repeated names kept."""

    pending_name = ""


def _number(text: str, position: int) -> Tuple[Union[int, float], int]:
    match = _NUMBER.match(text, position)
    if match is None:
        raise JsonError("Invalid value.", position)
    literal = match.group()
    # RapidJSON keeps a whole number as an integer while it fits in int64 or uint64, and makes
    # anything else a double; a double that overflows is an error.
    if match.group(1) is None and match.group(2) is None:
        digits = literal.lstrip("-")
        if len(digits) <= _MAX_INTEGER_DIGITS:
            value = int(literal)
            if _INT64_MIN <= value < _UINT64_END:
                return value, match.end()
    number = float(literal)
    if math.isinf(number):
        raise JsonError("Number too big to be stored in double.", position)
    return number, match.end()


def _string_error(python_message: str) -> str:
    for prefix, message in _STRING_ERRORS:
        if python_message.startswith(prefix):
            return message
    return python_message


def _string(text: str, position: int) -> Tuple[str, int]:
    """The string whose opening quote is at position - 1."""
    try:
        value, end = json.decoder.scanstring(text, position, True)
    except json.decoder.JSONDecodeError as error:
        raise JsonError(_string_error(error.msg), error.pos) from None
    if _HIGH_SURROGATE.search(value):
        raise JsonError("The surrogate pair in string is invalid.", position - 1)
    return value, end


def _skip_whitespace(text: str, position: int) -> int:
    return _WHITESPACE.match(text, position).end()


def _member_name(text: str, position: int) -> Tuple[str, int]:
    """The name and the colon of an object member; returns the position of its value."""
    if not text.startswith('"', position):
        raise JsonError("Missing a name for object member.", position)
    name, position = _string(text, position + 1)
    position = _skip_whitespace(text, position)
    if not text.startswith(":", position):
        raise JsonError("Missing a colon after a name of object member.", position)
    return name, _skip_whitespace(text, position + 1)


def parse_json(text: str) -> Any:
    """Parses text into nested lists, JsonObjects, strings, numbers, booleans and None.

    Raises JsonError. Any nesting depth is safe: open containers are kept on a list, not on
    the call stack.
    """
    open_containers: List[Union[list, JsonObject]] = []
    position = _skip_whitespace(text, 0)
    while True:
        # One value starts at position.
        char = text[position : position + 1]
        if char in ("{", "["):
            container: Union[list, JsonObject] = JsonObject() if char == "{" else []
            position = _skip_whitespace(text, position + 1)
            if text.startswith("}" if char == "{" else "]", position):
                value: Any = container
                position += 1
            else:
                open_containers.append(container)
                if isinstance(container, JsonObject):
                    container.pending_name, position = _member_name(text, position)
                continue
        elif char == '"':
            value, position = _string(text, position + 1)
        elif char == "-" or char.isdigit():
            value, position = _number(text, position)
        else:
            for literal, literal_value in _LITERALS:
                if text.startswith(literal, position):
                    value, position = literal_value, position + len(literal)
                    break
            else:
                empty = not open_containers and position == len(text)
                raise JsonError("The document is empty." if empty else "Invalid value.", position)

        # The value is complete: add it to its container, and close every container it completes.
        while True:
            position = _skip_whitespace(text, position)
            if not open_containers:
                if position != len(text):
                    raise JsonError("The document root must not be followed by other values.",
                                    position)
                return value
            parent = open_containers[-1]
            is_object = isinstance(parent, JsonObject)
            if is_object:
                parent.append((parent.pending_name, value))
            else:
                parent.append(value)
            if text.startswith(",", position):
                position = _skip_whitespace(text, position + 1)
                if is_object:
                    parent.pending_name, position = _member_name(text, position)
                break
            if text.startswith("}" if is_object else "]", position):
                value = open_containers.pop()
                position += 1
                continue
            raise JsonError("Missing a comma or '}' after an object member." if is_object
                            else "Missing a comma or ']' after an array element.", position)
