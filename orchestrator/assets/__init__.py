"""One module per asset group; `orchestrator/__init__.py` loads each with its group name."""
