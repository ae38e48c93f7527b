"""``python -m clustermetrics``: the command line, as the ``clustermetrics`` script."""

from .cli import main

main()
