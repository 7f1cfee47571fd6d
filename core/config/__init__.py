"""Configuration: Sen2Cor GIPP files (:mod:`core.config.gipp`), run options (:mod:`.options`)."""
