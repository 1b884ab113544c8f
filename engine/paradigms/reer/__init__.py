"""REER: reverse-engineered reasoning for open-ended generation (PAPERS.md section 5).

For now only ``formats``: the thinking draft, its segments, the marked segment for an
edit and the edit's ``<refine>``. The stages and the paradigm table entry come with the
REER paradigm itself.
"""
