"""The key format, offline: what a secret scanner can check without us."""

import pytest

from apikeys.keys import (
    BASE62,
    KEY_LENGTH,
    KEY_PATTERN,
    checksum,
    display_prefix,
    generate_key,
    hash_key,
    is_well_formed,
    lookup_prefix,
)


def test_a_generated_key_has_the_documented_format():
    key = generate_key()

    assert len(key) == KEY_LENGTH == 46
    assert KEY_PATTERN.fullmatch(key)
    assert key.startswith("pk_live_")
    assert key[-6:] == checksum(key[:-6])
    assert is_well_formed(key)


def test_keys_are_random():
    assert len({generate_key()[8:40] for _ in range(100)}) == 100


def test_the_checksum_is_crc32_in_base62_padded_to_six():
    # The README's test vector: CRC32("pk_live_" + "a" * 32) = 3370083159 = "3g4WZz" in base62.
    assert checksum("pk_live_" + "a" * 32) == "3g4WZz"
    assert is_well_formed("pk_live_" + "a" * 32 + "3g4WZz")
    assert checksum("") == "000000"


def test_every_single_character_typo_is_caught():
    key = generate_key()
    for position in range(len("pk_live_"), len(key)):
        replacement = BASE62[(BASE62.index(key[position]) + 1) % len(BASE62)]
        typo = key[:position] + replacement + key[position + 1 :]
        assert not is_well_formed(typo), typo


@pytest.mark.parametrize(
    "candidate",
    [
        "",
        "pk_live_",
        "pk_test_" + "a" * 32 + "3g4WZz",
        "pk_live_" + "a" * 32 + "3g4WZ",
        "pk_live_" + "a" * 31 + "-3g4WZz",
    ],
)
def test_malformed_keys_are_refused(candidate):
    assert not is_well_formed(candidate)


def test_prefixes():
    key = "pk_live_AbC1defgh" + "a" * 23 + "000000"

    assert lookup_prefix(key) == "pk_live_AbC1defg"
    assert display_prefix(lookup_prefix(key)) == "pk_live_AbC1…"


def test_the_hash_depends_on_the_server_secret(settings):
    key = generate_key()
    first = hash_key(key)

    settings.API_KEY_HASH_SECRET = "another secret"

    assert hash_key(key) != first
    assert len(first) == 64 and key not in first
