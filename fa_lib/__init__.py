"""fa_lib: the computation behind the feedback-alignment book.

Every equation of the paper that the chapters use is defined once here; the
chapters (notebooks under ``book/``) call into this package, draw the results
and check the paper's claims.
"""

__version__ = "0.1.0"
