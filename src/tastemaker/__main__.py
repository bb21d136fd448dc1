from tastemaker.cli import app

app(prog_name="tastemaker")
