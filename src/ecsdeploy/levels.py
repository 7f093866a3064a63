"""How much a run says (output.py writes by it): here alone, so that reading the arguments
before click parses them (argv.py) needs none of the output's vocabulary."""

from enum import IntEnum


class Level(IntEnum):
    QUIET = 0  # errors only
    NORMAL = 1
    VERBOSE = 2
