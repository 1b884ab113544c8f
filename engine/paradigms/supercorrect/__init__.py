"""SuperCorrect: hierarchical thought templates and cross-model DPO (PAPERS.md section 3).

For now only ``formats``: the parsers of the teacher's XML (templates and corrections).
The stages and the paradigm table entry come with the SuperCorrect paradigm itself.
"""
