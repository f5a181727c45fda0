"""Request body parsers of the API (DEFAULT_PARSER_CLASSES and the optimize view's)."""

import codecs
from collections import Counter

from django.core.files.uploadhandler import FileUploadHandler
from django.http.multipartparser import MultiPartParserError
from rest_framework import exceptions, parsers
from rest_framework.utils import json


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, answering as the malformed body it is, in the client's terms rather than
    Python's, what Python's decoder stops at: nesting too deep for it (a body of thousands of `[`)
    and an integer too long for it to convert (sys.get_int_max_str_digits)."""

    def parse(self, stream, media_type=None, parser_context=None):
        reader = codecs.getreader(parsers.get_encoding(parser_context or {}))
        constant = json.strict_constant if self.strict else None
        try:
            return json.load(
                reader(stream), parse_constant=constant, parse_int=_integer, object_pairs_hook=JsonObject.of
            )
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from None
        except ValueError as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from None


class JsonObject(dict):
    """A JSON object, knowing the names it held more than once: Python's decoder keeps the last of
    them, and a request sending `quality` twice was answered with one of the two, silently."""

    repeated: list[str]

    @classmethod
    def of(cls, pairs: list[tuple[str, object]]) -> "JsonObject":
        decoded = cls(pairs)
        decoded.repeated = sorted(name for name, count in Counter(name for name, _ in pairs).items() if count > 1)
        return decoded


def _integer(digits: str) -> int:
    try:
        return int(digits)
    except ValueError:
        raise ValueError(f"an integer of {len(digits.lstrip('-')):,} digits is too long") from None


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser, refusing a body that ends inside a file part (before the boundary
    after it): Django drops such a file and reads the rest, and the request was answered as one
    that sent no file at all."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context["request"].upload_handlers.append(_RefuseCutFile())
        return super().parse(stream, _type_in_lower_case(media_type), parser_context)


def _type_in_lower_case(media_type: str) -> str:
    """A media type is case-insensitive (RFC 9110), and Django's multipart parser refused
    `Multipart/Form-Data` as an invalid Content-Type; the boundary's case is kept, it is not."""
    kind, separator, parameters = media_type.partition(";")
    return kind.lower() + separator + parameters


class _RefuseCutFile(FileUploadHandler):
    """Last of the upload handlers: passes every chunk on, and is told, as all are, when the body
    ended inside a file (after Django's own handlers have deleted what they kept of it)."""

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None

    def upload_interrupted(self) -> None:
        raise MultiPartParserError("the body ends inside the file, before the boundary that closes it")
