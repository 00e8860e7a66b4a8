"""``python -m wellposed`` runs the command-line interface."""

from wellposed.cli import main

raise SystemExit(main())
