"""Input rules shared by every route (SPEC §3 validation)."""

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MIN_AMOUNT = 1
MAX_AMOUNT = 1_000_000
MIN_REASON = 3
MAX_REASON = 500
