"""The HTML/Markdown report: charts, the parts it is built from, and its template."""
