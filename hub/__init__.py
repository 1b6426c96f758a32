"""The course on a real JupyterHub: its configuration, and `python -m hub` to try it locally.

``jupyterhub_config.py`` is the hub (who logs in, what runs as whom, the exchange, the course's
formgrader as a hub service, and where a grading service is registered); ``jupyter/`` holds the
Jupyter configuration of each kind of server; ``course_hub.py`` starts it all on loopback with new
Unix accounts and removes them on Ctrl-C; ``accounts.py`` makes and removes those accounts.  The
proxy is pinned in ``package-lock.json`` (`scripts/setup.sh test` installs it into node_modules/).
"""
