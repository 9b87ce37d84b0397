"""``python -m grader SUBMISSIONS``: grade a whole class (see ``grader.grade``).

``python -m grader export RESULTS --format canvas|gradescope``: the gradebook for a learning platform
(see ``grader.export``).
"""

import sys

if sys.argv[1:2] == ["export"]:
    from .export import main as export

    sys.exit(export(sys.argv[2:]))

from .grade import main

sys.exit(main())
