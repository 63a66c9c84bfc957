"""A strict parser for the subset of YAML that the Kubernetes manifests in deploy/ use.

Python's standard library has no YAML parser and the tests may not depend on PyYAML, so this
reads block mappings and sequences, plain, single- and double-quoted scalars, flow sequences of
scalars, `{}`, literal (`|`, `|-`) and folded (`>`, `>-`) block scalars, comments and `---`.
Anything else (anchors, aliases, tags, tabs, duplicate keys, multi-line plain scalars, flow
mappings) is an error naming the line, never a silent misreading.
"""
import re

_INT = re.compile(r"[-+]?[0-9]+$")


class YamlError(Exception):
    pass


def load_all(text, name="<yaml>"):
    """Returns the documents of text as Python values (dict, list, str, int, bool, None)."""
    documents, chunk, first = [], [], 1
    for number, line in enumerate(text.split("\n"), start=1):
        if line.rstrip() == "---":
            documents.append((chunk, first))
            chunk, first = [], number + 1
        else:
            chunk.append(line)
    documents.append((chunk, first))
    values = []
    for lines, first_line in documents:
        parser = _Parser(lines, first_line, name)
        if parser.has_content():
            values.append(parser.parse())
    return values


class _Parser:
    def __init__(self, lines, first_line, name):
        self.lines = lines
        self.first_line = first_line
        self.name = name

    def error(self, index, message):
        raise YamlError(f"{self.name}:{self.first_line + index}: {message}")

    def is_content(self, index):
        stripped = self.lines[index].strip()
        return stripped != "" and not stripped.startswith("#")

    def next_content(self, index):
        while index < len(self.lines) and not self.is_content(index):
            index += 1
        return index

    def has_content(self):
        return self.next_content(0) < len(self.lines)

    def indent(self, index):
        line = self.lines[index]
        width = len(line) - len(line.lstrip(" "))
        if line[width:width + 1] == "\t":
            self.error(index, "tab in indentation")
        return width

    def parse(self):
        start = self.next_content(0)
        if self.indent(start) != 0:
            self.error(start, "document does not start at column 0")
        value, end = self.parse_block(start, 0)
        end = self.next_content(end)
        if end < len(self.lines):
            self.error(end, "unexpected content after the document")
        return value

    def parse_block(self, index, indent):
        if _is_item(self.lines[index][indent:]):
            return self.parse_sequence(index, indent)
        return self.parse_mapping(index, indent)

    def parse_mapping(self, index, indent):
        result = {}
        while True:
            index = self.next_content(index)
            if index >= len(self.lines) or self.indent(index) < indent:
                return result, index
            if self.indent(index) > indent:
                self.error(index, "unexpected indentation")
            content = self.lines[index][indent:]
            if _is_item(content):
                self.error(index, "sequence item where a mapping key was expected")
            key, rest = self.split_key(index, content)
            if key in result:
                self.error(index, f"duplicate key {key!r}")
            result[key], index = self.parse_value(index, rest, indent)

    def parse_sequence(self, index, indent):
        result = []
        while True:
            index = self.next_content(index)
            if index >= len(self.lines) or self.indent(index) < indent:
                return result, index
            if self.indent(index) > indent:
                self.error(index, "unexpected indentation")
            content = self.lines[index][indent:]
            if not _is_item(content):
                self.error(index, "expected a '- ' sequence item")
            after = content[1:]
            item = after.lstrip(" ")
            if item == "" or item.startswith("#"):
                value, index = self.parse_value(index, "", indent)
            elif _is_item(item):
                self.error(index, "nested sequence on one line is not supported")
            elif _has_key(item):
                # The item is a mapping whose keys line up with its first key.
                column = indent + 1 + len(after) - len(item)
                self.lines[index] = " " * column + item
                value, index = self.parse_mapping(index, column)
            else:
                value, index = self.parse_value(index, item, indent)
            result.append(value)

    def split_key(self, index, content):
        if content[:1] in ("'", '"'):
            key, rest = self.quoted(index, content)
            if not rest.startswith(":"):
                self.error(index, "expected ':' after a quoted key")
            return key, rest[1:]
        match = re.match(r"([^\s#:][^#]*?):(?: |$)", content)
        if match is None:
            self.error(index, f"expected 'key: value', got {content.strip()!r}")
        return match.group(1), content[match.end():]

    def parse_value(self, index, rest, parent_indent):
        rest = rest.strip()
        if rest == "" or rest.startswith("#"):
            following = self.next_content(index + 1)
            if following < len(self.lines) and self.indent(following) > parent_indent:
                return self.parse_block(following, self.indent(following))
            return None, index + 1
        if rest.split(" #")[0].strip() in ("|", "|-", ">", ">-"):
            return self.block_scalar(index, rest.split(" #")[0].strip(), parent_indent)
        return self.scalar(index, rest), index + 1

    def block_scalar(self, index, style, parent_indent):
        body, end = [], index + 1
        while end < len(self.lines):
            line = self.lines[end]
            if line.strip() and len(line) - len(line.lstrip(" ")) <= parent_indent:
                break
            body.append(line)
            end += 1
        while body and not body[-1].strip():
            body.pop()
            end -= 1
        if not body:
            return "", end
        width = min(len(line) - len(line.lstrip(" ")) for line in body if line.strip())
        texts = [line[width:] for line in body]
        if style.startswith("|"):
            text = "\n".join(texts)
        else:
            if any(t.startswith((" ", "\t")) for t in texts):
                self.error(index, "more-indented lines in a folded scalar are not supported")
            text = re.sub(r"(?<=[^\n])\n(?=[^\n])", " ", "\n".join(texts))
            text = re.sub(r"\n\n", "\n", text)
        return (text if style.endswith("-") else text + "\n"), end

    def quoted(self, index, content):
        quote = content[0]
        value, position = [], 1
        while position < len(content):
            char = content[position]
            if quote == "'" and char == "'":
                if content[position + 1:position + 2] == "'":
                    value.append("'")
                    position += 2
                    continue
                return "".join(value), content[position + 1:]
            if quote == '"' and char == "\\":
                escaped = content[position + 1:position + 2]
                if escaped not in ('"', "\\", "n", "t", "/"):
                    self.error(index, f"unsupported escape \\{escaped}")
                value.append({"n": "\n", "t": "\t"}.get(escaped, escaped))
                position += 2
                continue
            if quote == '"' and char == '"':
                return "".join(value), content[position + 1:]
            value.append(char)
            position += 1
        self.error(index, "unterminated quoted scalar")

    def scalar(self, index, text):
        if text[:1] in ("'", '"'):
            value, rest = self.quoted(index, text)
            if rest.strip() and not rest.strip().startswith("#"):
                self.error(index, f"text after a quoted scalar: {rest.strip()!r}")
            return value
        text = re.split(r"\s#", text)[0].strip()
        if text == "{}":
            return {}
        if text.startswith("["):
            if not text.endswith("]"):
                self.error(index, "flow sequence must end on its line")
            inner = text[1:-1].strip()
            return [self.scalar(index, item.strip()) for item in inner.split(",")] if inner else []
        if text[:1] in "&*!|>{%@`" or ": " in text:
            self.error(index, f"unsupported YAML construct: {text!r}")
        if text in ("true", "false"):
            return text == "true"
        if text in ("null", "~"):
            return None
        if _INT.match(text):
            return int(text)
        return text


def _is_item(content):
    return content == "-" or content.startswith("- ")


def _has_key(content):
    if content[:1] in ("'", '"'):
        return False
    return re.match(r"[^\s#:\[{'\"][^#]*?:(?: |$)", content) is not None
