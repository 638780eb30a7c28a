"""The in-container trainer. Runs with only container/requirements.txt installed: never import `services`."""
