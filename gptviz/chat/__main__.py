"""`python -m gptviz.chat`: see gptviz.chat.cli."""

from .cli import main

main()
