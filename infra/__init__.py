"""Deployment and local-emulation code of sen2cloud (AWS API calls live here and in handlers/)."""
