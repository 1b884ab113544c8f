"""LEMA: learning from mistakes (PAPERS.md section 4).

For now only ``formats``: the parsers of the teacher's answers (the correction triplet,
evolved questions, majority labels). The stages and the paradigm table entry come with
the LEMA paradigm itself.
"""
