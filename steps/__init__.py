"""Step definitions: one module per capability; each step reads like its sentence and calls support/."""
