"""Truth values written as text: one parser, and the vocabularies of the libraries we mirror.

transformers and accelerate do not agree on which words mean "true", and scripts, job files
and launch environments rely on each one's exact words (a parity test compares every one of
them with transformers). So the words are a parameter of one parser, not one merged list:

- `ARGPARSE`: `HfArgumentParser`'s `string_to_bool` (yes/true/t/y/1; no on/off);
- `STRTOBOOL`: distutils' `strtobool`, which transformers' FSDP options and accelerate use
  (the same words plus on/off);
- `TRANSFORMERS_ENV`: transformers' `ENV_VARS_TRUE_VALUES`, compared upper-case (1/ON/YES/TRUE);
- `ACCELERATE_ENV`: the launcher variables read by the device layer (1/true/yes/y/on);
- `OPTIM_ARGS`: boolean options in `optim_args` (`nesterov`, `centered`): true/1/yes, any
  other word reads as False;
- `COMET_ENV`: `COMET_LOG_ASSETS`, compared upper-case against TRUE/1;
- `JSON_DICT_STRINGS`: the string leaves of dict fields given as JSON (transformers'
  `_convert_str_dict`: only true/false, so "1" and "yes" stay text or become numbers).

Every layer (parser, FSDP options, device set-up, experiment trackers) reads truth through here.
"""

from __future__ import annotations

import os
from typing import Literal, NamedTuple

__all__ = [
    "ACCELERATE_ENV",
    "ARGPARSE",
    "COMET_ENV",
    "JSON_DICT_STRINGS",
    "OPTIM_ARGS",
    "STRTOBOOL",
    "TRANSFORMERS_ENV",
    "TruthVocabulary",
    "env_flag",
    "parse_truth",
]


class TruthVocabulary(NamedTuple):
    """The words one library reads as True and as False, and how it folds case first."""

    true: tuple[str, ...]
    false: tuple[str, ...]
    # transformers' environment checks upper-case the value; everything else lower-cases it.
    case: Literal["lower", "upper"] = "lower"

    @property
    def words(self) -> list[str]:
        """Every accepted word, true ones first (the order error messages list them in)."""
        return [*self.true, *self.false]

    def pairs(self) -> str:
        """The words as "yes/no, true/false, ...", as HfArgumentParser's error spells them."""
        return ", ".join(f"{yes}/{no}" for yes, no in zip(self.true, self.false))


ARGPARSE = TruthVocabulary(
    true=("yes", "true", "t", "y", "1"), false=("no", "false", "f", "n", "0")
)
STRTOBOOL = TruthVocabulary(
    true=("y", "yes", "t", "true", "on", "1"), false=("n", "no", "f", "false", "off", "0")
)
TRANSFORMERS_ENV = TruthVocabulary(
    true=("1", "ON", "YES", "TRUE"), false=("0", "OFF", "NO", "FALSE"), case="upper"
)
ACCELERATE_ENV = TruthVocabulary(
    true=("1", "true", "yes", "y", "on"), false=("0", "false", "no", "n", "off")
)
JSON_DICT_STRINGS = TruthVocabulary(true=("true",), false=("false",))
OPTIM_ARGS = TruthVocabulary(true=("true", "1", "yes"), false=())
COMET_ENV = TruthVocabulary(true=("TRUE", "1"), false=(), case="upper")


def parse_truth(text: str, vocabulary: TruthVocabulary) -> bool | None:
    """True or False when `text` (case folded) is one of `vocabulary`'s words; else None.

    None rather than an exception: callers differ in what a stray word is (an argparse type
    error, a `ValidationError` naming the field, a `ValueError`, or simply "not set").
    """
    # The method call, not str.lower(text): a non-string fails as it does in the libraries.
    folded = text.upper() if vocabulary.case == "upper" else text.lower()
    if folded in vocabulary.true:
        return True
    if folded in vocabulary.false:
        return False
    return None


def env_flag(name: str, vocabulary: TruthVocabulary, *, strip: bool = False) -> bool:
    """Whether the environment variable `name` is set to one of `vocabulary`'s true words.

    Unset, empty or any other word reads as False, as the flags it mirrors do. `strip` drops
    surrounding whitespace first (the device layer's reading; transformers' does not).
    """
    raw = os.environ.get(name)
    if raw is None:
        return False
    return parse_truth(raw.strip() if strip else raw, vocabulary) is True
