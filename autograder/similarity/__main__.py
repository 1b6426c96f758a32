"""``python -m autograder.similarity ASSIGNMENT [--threshold T] [--out DIR]`` (see :mod:`.command`)."""
import sys

from .command import main

sys.exit(main())
