"""ELAD: explanation-guided active distillation (PAPERS.md section 2).

For now only ``formats``: the parsers of the teacher's answers (step verdicts and the
revision from the first wrong step). The stages and the paradigm table entry come with
the ELAD paradigm itself.
"""
