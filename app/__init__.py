"""musae desktop app: the only Qt code in the project; talks to musae_core.workstation."""
