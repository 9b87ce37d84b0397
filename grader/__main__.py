"""``python -m grader SUBMISSIONS``: grade a whole class (see ``grader.grade``)."""

import sys

from .grade import main

sys.exit(main())
