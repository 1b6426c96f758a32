"""`python -m hub`: start a local course hub (hub/course_hub.py)."""
import sys

from hub.course_hub import main

sys.exit(main())
