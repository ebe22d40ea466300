# syntax=docker/dockerfile:1.7
# Every tickflow binary in one image: exchange-sim, producer, stream-processor, lake-writer,
# query-api (docker-compose.yml runs one per service). Build: `docker compose build` or
# `docker build -t tickflow/services .`.

# DuckDB 1.5.5's official prebuilt library, which the query-api links (as scripts/duckdb-lib.sh
# fetches it for local builds: compiling DuckDB takes far longer than everything else).
FROM node:20-bookworm-slim AS duckdb
WORKDIR /pack
RUN npm pack --silent @duckdb/node-bindings-linux-x64@1.5.5-r.5 \
 && tar -xzf ./*.tgz package/libduckdb.so && mkdir -p /opt/duckdb && mv package/libduckdb.so /opt/duckdb/

# DuckDB's httpfs extension for the query-api's s3:// lake, from the duckdb-extension-httpfs wheel.
FROM python:3.11-slim-bookworm AS httpfs
RUN pip download --no-deps --quiet --dest /wheel duckdb-extension-httpfs==1.5.5 \
 && python -c "import zipfile, glob, shutil, pathlib; z = zipfile.ZipFile(glob.glob('/wheel/*.whl')[0]); \
name = next(n for n in z.namelist() if n.endswith('httpfs.duckdb_extension')); \
pathlib.Path('/opt/duckdb').mkdir(parents=True); shutil.copyfileobj(z.open(name), open('/opt/duckdb/httpfs.duckdb_extension', 'wb'))"

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY --from=duckdb /opt/duckdb /opt/duckdb
ENV DUCKDB_LIB_DIR=/opt/duckdb CARGO_TERM_COLOR=never
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY crates crates
COPY schemas schemas
# The registry and the target folder are cache mounts: a rebuild after a source change compiles
# only the workspace's own crates, not the dependencies.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p exchange-sim -p producer -p stream-processor -p lake-writer -p query-api \
 && mkdir -p /out \
 && cp target/release/exchange-sim target/release/producer target/release/stream-processor \
       target/release/lake-writer target/release/query-api /out/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /home/tickflow tickflow \
 && mkdir -p /data /warehouse && chown tickflow /data /warehouse
# The same path as at build time: the query-api finds libduckdb.so through its rpath.
COPY --from=duckdb /opt/duckdb /opt/duckdb
COPY --from=httpfs /opt/duckdb/httpfs.duckdb_extension /opt/duckdb/
COPY --from=build /out/ /usr/local/bin/
COPY schemas/reference /usr/share/tickflow/reference
ENV TICKFLOW_REFERENCE_DIR=/usr/share/tickflow/reference
USER tickflow
WORKDIR /data
CMD ["producer", "--help"]
