"""Command lines: ``L2A_Process`` (Sen2Cor-compatible) and the ``sen2cloud`` click group."""
