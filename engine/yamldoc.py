"""Parse policy YAML text into plain data that remembers where every value came from.

Rules that differ from stock PyYAML, on purpose:
- duplicate mapping keys are errors (`yaml_duplicate_key`);
- only `true`/`false` are booleans (country `NO` stays a string);
- dates stay strings (`2025-01-01`), validated by the schemas;
- non-integer numbers load as `Decimal`, never float (money is exact);
- aliases (`*name`) are refused (`yaml_alias`): policies do not need them, and a few lines of
  nested aliases can expand to billions of nodes ("billion laughs").
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.errors import BillplaneError, Diagnostic, Location, excerpt, shown

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 64


class LocDict(dict[str, Any]):
    """A mapping that knows the location of itself, of each key and of each value."""

    loc: Location
    key_locs: dict[str, Location]
    # where each value starts and, for scalars, its style (None plain, '"', "'", '|', '>')
    value_locs: dict[str, Location]
    value_styles: dict[str, str | None]


class LocList(list[Any]):
    """A sequence that knows the location of itself and of each item."""

    loc: Location
    item_locs: list[Location]
    item_styles: list[str | None]


class _Resolver(yaml.resolver.BaseResolver):
    pass


# YAML 1.2-style core schema: narrower than PyYAML's YAML 1.1 defaults.
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789")
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)


class _Loader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser,
              yaml.composer.Composer, _Resolver):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _Resolver.__init__(self)


_FAST: type | None = None
if yaml.__with_libyaml__:
    # libyaml's parser/composer is about 10x faster than the pure-Python one (1,000-rule
    # repositories parse in ~0.2 s instead of ~2 s); scalars still resolve through _Resolver.
    from yaml.cyaml import CParser  # type: ignore[attr-defined]

    class _CLoader(CParser, _Resolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _Resolver.__init__(self)

    _FAST = _CLoader


def _loc(path: str, node: Node) -> Location:
    mark = node.start_mark
    return Location(path, mark.line + 1, mark.column + 1)


def _style(node: Node) -> str | None:
    # libyaml reports plain scalars as '' where the pure-Python parser says None
    return (node.style or None) if isinstance(node, ScalarNode) else None


class _Builder:
    def __init__(self, path: str) -> None:
        self.path = path
        self.errors: list[Diagnostic] = []
        # the composer hands an alias back as the very node its anchor names: a node met
        # twice is an alias, and building it again is how alias bombs explode
        self.seen: set[int] = set()
        self.aliased = False
        self.any_aliased = False

    def document(self, node: Node) -> tuple[Any, bool]:
        """One document's data, and whether it built without a problem of its own."""
        self.seen = set()  # ids of an earlier document's nodes may be reused
        self.aliased = False
        errors = len(self.errors)
        data = self.build(node)
        self.any_aliased = self.any_aliased or self.aliased
        return data, len(self.errors) == errors and not self.aliased

    def build(self, node: Node, depth: int = 0) -> Any:
        if id(node) in self.seen:
            self.aliased = True
            return None
        self.seen.add(id(node))
        if depth > MAX_DEPTH:
            self.errors.append(Diagnostic(
                "yaml_too_deep", f"nesting deeper than {MAX_DEPTH} levels", _loc(self.path, node)))
            return None
        if isinstance(node, MappingNode):
            return self._mapping(node, depth)
        if isinstance(node, SequenceNode):
            out = LocList()
            out.loc = _loc(self.path, node)
            out.item_locs = []
            out.item_styles = []
            for item in node.value:
                out.append(self.build(item, depth + 1))
                out.item_locs.append(_loc(self.path, item))
                out.item_styles.append(_style(item))
            return out
        assert isinstance(node, ScalarNode)
        return self._scalar(node)

    def _mapping(self, node: MappingNode, depth: int) -> LocDict:
        out = LocDict()
        out.loc = _loc(self.path, node)
        out.key_locs = {}
        out.value_locs = {}
        out.value_styles = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or (
                isinstance(key_node, ScalarNode) and key_node.value == "<<"
                and not key_node.style
            ):
                self.errors.append(Diagnostic(
                    "yaml_unsupported", "merge keys (<<) are not supported in policies",
                    _loc(self.path, key_node)))
                continue
            key = self.build(key_node, depth + 1)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                first = out.key_locs[key]
                self.errors.append(Diagnostic(
                    "yaml_duplicate_key",
                    f"duplicate key {shown(key)} (first defined at line {first.line})",
                    _loc(self.path, key_node)))
                continue
            out[key] = self.build(value_node, depth + 1)
            out.key_locs[key] = _loc(self.path, key_node)
            out.value_locs[key] = _loc(self.path, value_node)
            out.value_styles[key] = _style(value_node)
        return out

    def _scalar(self, node: ScalarNode) -> Any:
        tag, text = node.tag, node.value
        if tag == "tag:yaml.org,2002:bool":
            return text.lower() == "true"
        if tag == "tag:yaml.org,2002:int":
            digits = text.replace("_", "")
            # Python parses at most 4,300 digits into an int: a longer number stays exact as
            # a Decimal, for the schemas to refuse with a message rather than a traceback
            return int(digits) if len(digits) <= 4000 else Decimal(digits)
        if tag == "tag:yaml.org,2002:float":
            return Decimal(text.replace("_", ""))
        if tag == "tag:yaml.org,2002:null":
            return None
        if tag not in ("tag:yaml.org,2002:str", "!"):
            self.errors.append(Diagnostic(
                "yaml_unsupported", f"unsupported YAML tag {excerpt(tag)}",
                _loc(self.path, node)))
        return text


class OversizedFile(bytes):
    """Stands in for a policy file too large to read: no content, only its real size."""

    size: int

    def __new__(cls, size: int) -> OversizedFile:
        made = super().__new__(cls, b"")
        made.size = size
        return made


def _size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB ({size:,} bytes)"
    return f"{size:,} bytes"


def check_text(path: str, data: bytes) -> str:
    """Decode policy bytes, refusing binary, oversized and non-UTF-8 content."""
    size = data.size if isinstance(data, OversizedFile) else len(data)
    if size > MAX_FILE_BYTES:
        raise BillplaneError(Diagnostic(
            "file_too_large",
            f"file is {_size_text(size)}; policy files are limited to "
            f"{_size_text(MAX_FILE_BYTES)}", Location(path)))
    if b"\x00" in data[:8192]:
        raise BillplaneError(Diagnostic("binary_file", "binary content in a policy file",
                                        Location(path)))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data[: exc.start].count(b"\n") + 1
        column = len(data[line_start:exc.start].decode("utf-8", "replace")) + 1
        raise BillplaneError(Diagnostic(
            "encoding_error", f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x})",
            Location(path, line, column))) from None


def parse_documents(path: str, data: bytes) -> tuple[list[Any], list[Diagnostic]]:
    """Every YAML document of a file that parsed cleanly, and the problems of the others.

    Documents before a syntax error are kept, so that their own findings are not hidden by a
    broken document further down; a document with a problem of its own is left out.
    """
    try:
        text = check_text(path, data)
    except BillplaneError as exc:
        return [], exc.diagnostics
    builder = _Builder(path)
    docs: list[Any] = []
    chunks = [text]
    starts = [0]  # where each chunk's documents start: always further on
    while True:
        chunk = chunks[-1]
        try:
            loader = (_FAST or _Loader)(chunk)
            try:
                while loader.check_node():
                    node = loader.get_node()
                    if node is None:
                        continue
                    doc, clean = builder.document(node)
                    if clean:
                        docs.append(doc)
            finally:
                loader.dispose()
        except yaml.MarkedYAMLError as exc:
            builder.errors.append(_syntax_error(path, exc, chunk))
            mark = exc.problem_mark or exc.context_mark
            resume = _next_document(chunk, mark.line, mark.column) if mark else None
            if resume is not None and resume > starts[-1]:
                starts.append(resume)
                # the documents after the broken one, at their own lines: the text before
                # them is left as empty lines
                chunks.append("\n" * chunk.count("\n", 0, resume) + chunk[resume:])
                continue
        except RecursionError:
            builder.errors.append(Diagnostic("yaml_too_deep", "YAML nesting too deep",
                                             Location(path)))
        break
    if builder.any_aliased:
        for chunk in chunks:
            builder.errors.extend(_aliases(path, chunk))
    return docs, builder.errors


_DOCUMENT_START = re.compile(r"^---(?=[ \t\r\n]|$)", re.MULTILINE)


def _next_document(text: str, line: int, column: int) -> int | None:
    """Where the next document begins after an error at `line`, `column` (0-based): on a
    later line, or at the error itself when it is a `---` (the broken document ran into it)."""
    at = 0
    for _ in range(line):
        at = text.find("\n", at) + 1
        if not at:
            return None
    if not (column == 0 and _DOCUMENT_START.match(text, at)):
        at = text.find("\n", at) + 1
        if not at:
            return None
    found = _DOCUMENT_START.search(text, at)
    return found.start() if found else None


def load_documents(path: str, data: bytes) -> list[Any]:
    """Parse every YAML document in a file; raise one error listing all problems."""
    docs, errors = parse_documents(path, data)
    if errors:
        raise BillplaneError(errors)
    return docs


# what the parser's terse problems usually mean in a policy file
_HINTS = {
    "did not find expected key": "check this line's indentation, and that every quote above "
                                 "it is closed",
    "mapping values are not allowed in this context": "quote a value that contains ': ', or "
                                                      "check this line's indentation",
    "did not find expected ',' or '}'": "a { ... } is not closed",
    "did not find expected ',' or ']'": "a [ ... ] is not closed",
    "found unexpected end of stream": "a quote or bracket is not closed",
    "could not find expected ':'": "a key needs ': ' after it, or a quote is not closed",
}


def _syntax_error(path: str, exc: yaml.MarkedYAMLError, text: str = "") -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    loc = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
    message = exc.problem or exc.context or "invalid YAML"
    if mark is not None and text[mark.index:mark.index + 1] == "\t":
        message += ": a tab cannot indent YAML, use spaces"
    elif message in _HINTS:
        message += f": {_HINTS[message]}"
    context = exc.context_mark
    if exc.problem and exc.context and context is not None and (
            mark is None or (context.line, context.column) != (mark.line, mark.column)):
        message += f" ({exc.context} at line {context.line + 1}, column {context.column + 1})"
    return Diagnostic("yaml_syntax", message, loc)


def _aliases(path: str, text: str) -> list[Diagnostic]:
    """The first alias of each line, located (scanned for only once an alias was seen)."""
    found: list[Diagnostic] = []
    try:
        for event in yaml.parse(text, Loader=_FAST or _Loader):
            mark = event.start_mark
            if isinstance(event, yaml.AliasEvent) and mark is not None:
                if found and found[-1].location.line == mark.line + 1:
                    continue
                found.append(Diagnostic(
                    "yaml_alias",
                    f"aliases (*{event.anchor}) are not supported in policies; write the "
                    "value out", Location(path, mark.line + 1, mark.column + 1)))
    except yaml.YAMLError:
        pass  # the syntax error is reported already; the aliases before it are listed
    return found


def location_of(root: Any, path: list[str | int]) -> Location | None:
    """Best location for a value at `path` inside a parsed document (deepest known)."""
    node = root
    best: Location | None = getattr(root, "loc", None)
    for step in path:
        if isinstance(node, LocDict) and isinstance(step, str) and step in node:
            best = node.key_locs.get(step, best)
            node = node[step]
        elif isinstance(node, LocList) and isinstance(step, int) and 0 <= step < len(node):
            best = node.item_locs[step]
            node = node[step]
        else:
            break
    return best


def value_location(root: Any, path: list[str | int]) -> tuple[Location, str | None] | None:
    """Where the value at `path` starts and its scalar style, when known."""
    node = root
    for step in path[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    last = path[-1] if path else None
    if isinstance(node, LocDict) and isinstance(last, str) and last in node.value_locs:
        return node.value_locs[last], node.value_styles[last]
    if isinstance(node, LocList) and isinstance(last, int) and 0 <= last < len(node):
        return node.item_locs[last], node.item_styles[last]
    return None


def to_plain(value: Any) -> Any:
    """Strip location wrappers (for hashing and for handing to CEL or JSON)."""
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value
