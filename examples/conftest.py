"""Load the usersock pytest plugin when it is not installed.

An installed usersock (``pip install usersock`` or ``pip install -e .``) registers the plugin
through its ``pytest11`` entry point and this file does nothing. From a bare checkout,
``python -m pytest examples`` still finds it here.
"""

from importlib.metadata import entry_points

if not any(ep.value == "usersock.pytest_plugin" for ep in entry_points(group="pytest11")):
    pytest_plugins = ["usersock.pytest_plugin"]
