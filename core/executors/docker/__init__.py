"""The docker target: each run is one container on a Docker engine, local or remote."""
