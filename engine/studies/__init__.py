"""Studies: arms x seeds as one experiment, on the same evaluation items.

``spec`` reads study files; ``runner`` creates a study's runs and runs them (resumable,
cancellable), reusing stages whose inputs match (``reuse``); ``outcomes`` and ``costs`` read
per-item results and what each run spent; ``stats`` holds the statistics; ``analysis``
puts them together for ``report`` (Markdown, HTML, PNG plots) and the GUI.
"""
