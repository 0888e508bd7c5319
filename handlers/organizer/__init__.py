"""The organizers' `/muster` commands, one module per command family; `commands` dispatches."""
