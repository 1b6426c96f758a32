"""nbgrader settings every server of the course hub shares: students', the instructor's and the course's.

What /etc/jupyter/nbgrader_config.py holds on a hub that serves one course: the course id (the same
as the course's own nbgrader_config.py, a test holds them equal) and the exchange.  The hub's spawner
puts this folder on JUPYTER_CONFIG_PATH and sets COURSE_HUB_EXCHANGE (hub/jupyterhub_config.py).
"""
import os

c = get_config()  # noqa: F821 -- provided by traitlets when it loads this file

c.CourseDirectory.course_id = "cnn-properties"
# The hub's exchange (hub/jupyterhub_config.py says how it is chosen); a hub without the variable
# uses the path nbgrader's documentation and the instructor's guide use.
c.Exchange.root = os.environ.get("COURSE_HUB_EXCHANGE", "/srv/nbgrader/exchange")
