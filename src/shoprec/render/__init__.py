"""One renderer per table people read (metrics with intervals, the gate verdict, the
validation summary, a batch run): each builds a neutral ``Table`` from the plain dicts the
stages write, and ``table`` turns it into rich, Markdown or HTML."""
