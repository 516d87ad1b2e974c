"""`python -m aerovane` is the `aerovane` command."""

from aerovane.cli import main

main()
