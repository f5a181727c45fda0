"""Request body parsers of the API (DEFAULT_PARSER_CLASSES)."""

import codecs

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
            return json.load(reader(stream), parse_constant=constant, parse_int=_integer)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from None
        except ValueError as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from None


def _integer(digits: str) -> int:
    try:
        return int(digits)
    except ValueError:
        raise ValueError(f"an integer of {len(digits.lstrip('-')):,} digits is too long") from None
