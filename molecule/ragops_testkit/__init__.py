"""What the lab, the molecule scenarios and the benchmarks share to test the stack.

``lab``: the lab's API key, one HTTP call, demo vectors and the tenant naming rule (standard library only, so it
also runs on an API host); ``verify``: the verifiers' helpers (testinfra); ``migration``: the split scenario's
migration data; ``nfs41.py``: a minimal NFSv4.1 client copied into the containers. Next to them: the test hosts'
image (Dockerfile) and the create step every scenario shares (create.yml, vars/systemd-host.yml).

Importable with ``molecule/`` (and ``collections/``, for the tenant rule) on the path: pytest.ini sets both.
"""
