from worker.cli import cli

cli(prog_name="python -m worker")
