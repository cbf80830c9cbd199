# A local stand-in for the public python:3.x-slim images, for machines that cannot pull them
# (../shared/docs/containers.md): Debian bookworm from Debian's packages (local/debian:bookworm,
# made with debootstrap) plus this machine's own CPython build, staged by deploy/build-local.sh.
# Bookworm's own Python is 3.11; the project needs 3.12 and Rasa 3.6 needs 3.10.
ARG DEBIAN=local/debian:bookworm
FROM ${DEBIAN}
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 libsqlite3-0 libffi8 zlib1g \
       libbz2-1.0 liblzma5 libreadline8 libncursesw6 libgdbm6 libuuid1 libexpat1 \
    && rm -rf /var/lib/apt/lists/*
ARG PYTHON_TARBALL
# the tarball unpacks to /opt/python (bin/python3, lib/libpython3.x.so)
ADD ${PYTHON_TARBALL} /opt/
ENV PATH=/opt/python/bin:$PATH LD_LIBRARY_PATH=/opt/python/lib
RUN ln -s /opt/python/bin/python3 /usr/local/bin/python3 && ln -s /opt/python/bin/python3 /usr/local/bin/python \
    && python3 -m ensurepip --default-pip >/dev/null && python3 -c 'import ssl, sqlite3, ctypes, lzma, bz2; print("ok")'
