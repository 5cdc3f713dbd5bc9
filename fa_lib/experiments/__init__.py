"""One module per chapter: paper and quick configurations and a ``run`` function."""
