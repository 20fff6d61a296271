"""`python -m wattmesh.service FOLDER [--db URL] [--host H] [--port P]`: `wattmesh serve` without the rest of
the command line (starts faster; the crash test and the benchmark start servers this way)."""

import typer

from wattmesh.service.cli import serve

if __name__ == "__main__":
    typer.run(serve)
