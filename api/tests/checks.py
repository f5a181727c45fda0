"""Checks every test of POST /api/v1/optimize makes on its answers."""

import base64

from PIL import Image

from optimizer.tests import images

ENDPOINT = "/api/v1/optimize"
REFERENCE_FIELDS = {
    "success": bool,
    "originalSize": int,
    "optimizedSize": int,
    "savings": int,
    "savingsPercent": int,
    "format": str,
    "width": int,
    "height": int,
    "data": str,
    "contentType": str,
}
SERVER_ERROR_BODY = {"error": "Internal server error during optimization", "code": "SERVER_ERROR"}


def assert_reference_response(body: dict) -> Image.Image:
    """Every field of the reference with its type, consistent figures; returns the decoded image."""
    for name, kind in REFERENCE_FIELDS.items():
        assert type(body[name]) is kind, name
    assert body["success"] is True
    assert body["format"] in ("webp", "avif")
    assert body["contentType"] == f"image/{body['format']}"
    data = base64.b64decode(body["data"], validate=True)
    assert body["optimizedSize"] == len(data)
    assert body["savings"] == max(0, body["originalSize"] - body["optimizedSize"])
    assert 0 <= body["savingsPercent"] <= 100
    assert body["savingsPercent"] == body["savings"] * 100 // body["originalSize"]
    decoded = images.decode(data)
    assert decoded.format == body["format"].upper()
    assert decoded.size == (body["width"], body["height"])
    return decoded


def assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["error"], str) and body["error"]
    if field:
        assert body["field"] == field
    return body
