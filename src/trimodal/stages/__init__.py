"""Stage entry points: one module per rule family, each called by its workflow/scripts adapter."""
