"""``python -m spacy_roc``: the spacy-roc command-line interface."""
from .commands.cli import main

if __name__ == "__main__":
    main()
