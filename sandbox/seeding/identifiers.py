"""
Identifier systems and check-digit rules used by the synthetic payer data.

NPIs follow the CMS NPI standard: ten digits whose last digit is a Luhn check digit computed over the
first nine digits prefixed with the ISO card-issuer prefix 80840.
"""

NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
TIN_SYSTEM = "urn:oid:2.16.840.1.113883.4.4"
NAIC_SYSTEM = "urn:oid:2.16.840.1.113883.6.300"
IDENTIFIER_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"
C4BB_IDENTIFIER_TYPE_SYSTEM = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBIdentifierType"

# Reserved .example domain: every business identifier system is plainly synthetic and never collides
# with a real payer's namespace, whatever public URL the sandbox runs under.
DEFAULT_IDENTIFIER_BASE = "https://payers.sandbox.example"

_NPI_PREFIX = "80840"
# Valid IRS campus prefixes for an EIN; a TIN outside these looks wrong to anyone who checks.
_EIN_PREFIXES = (20, 21, 22, 23, 24, 25, 26, 27, 30, 31, 32, 33, 34, 35, 36, 37, 38, 41, 42, 43, 45, 46, 47, 51, 52, 53)


def _luhn_sum(digits: str, double_rightmost: bool) -> int:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if (position % 2 == 0) == double_rightmost:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total


def npi_check_digit(first_nine: str) -> int:
    """The NPI check digit for nine leading digits (Luhn over the 80840-prefixed number)."""
    if len(first_nine) != 9 or not first_nine.isdigit():
        raise ValueError("an NPI check digit is computed over exactly nine digits")
    return (10 - _luhn_sum(_NPI_PREFIX + first_nine, double_rightmost=True) % 10) % 10


def is_valid_npi(npi: str) -> bool:
    """True when npi is ten digits starting with 1 or 2 and its Luhn check digit is right."""
    if len(npi) != 10 or not npi.isdigit() or npi[0] not in "12":
        return False
    return _luhn_sum(_NPI_PREFIX + npi, double_rightmost=False) % 10 == 0


def make_npi(rng) -> str:
    """A random, valid NPI (type 1 or 2 prefix) drawn from rng."""
    first_nine = str(rng.choice((1, 2))) + "".join(str(rng.randrange(10)) for _ in range(8))
    return first_nine + str(npi_check_digit(first_nine))


def make_tin(rng) -> str:
    """A random nine-digit employer TIN with a valid IRS campus prefix."""
    return f"{rng.choice(_EIN_PREFIXES)}{rng.randrange(10_000_000):07d}"


def member_id_prefix(slug: str) -> str:
    """Three upper-case letters or digits from the payer slug, so member ids show which payer issued them."""
    letters = "".join(ch for ch in slug.upper() if ch.isalnum())
    return (letters + "XXX")[:3]
