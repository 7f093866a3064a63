"""The numbers the command line accepts: declared once, here, so that the command's options
(cli.py, which `--help` loads) read them without importing the rules and models that apply
them (config.py, models.py, diagnose.py).

The ranges of the native strategies' settings are the ECS API reference's (botocore's model
carries their types, not these): bake times 0-1440 minutes; canaryPercent 0.1-100 and
stepPercent 3-100, both multiples of 0.1."""

INT32_MAX = 2**31 - 1  # ECS's integer fields are 32-bit
MAX_TIMEOUT = 7 * 24 * 3600.0  # a week: longer is a typo, and sleeps cannot take any float
MAX_POLL_INTERVAL = 300.0
MAX_BAKE_MINUTES = 1440
CANARY_PERCENT_RANGE = (0.1, 100.0)
LINEAR_STEP_PERCENT_RANGE = (3.0, 100.0)
#: Secret values shorter than this are not masked inside log lines: masking "1" or "on"
#: would garble every line without protecting anything.
MIN_MASKED_LENGTH = 4
#: Lines of each failed container's log a failure's diagnosis shows (--log-lines).
DEFAULT_LOG_LINES = 20
