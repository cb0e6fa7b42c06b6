"""`python -m trainer_args` runs the `trainer-args` console script."""

import sys

from trainer_args.cli import main

if __name__ == "__main__":
    sys.exit(main())
