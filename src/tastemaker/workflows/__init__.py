"""The workflows: the only code that joins the store and the core."""
