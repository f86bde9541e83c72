# syntax=docker/dockerfile:1
# hybridserve on Debian 12, from Debian's packages only, in two stages:
#   build    the same scripts/setup + scripts/build that CI runs on every change
#   runtime  only the shared libraries the binaries load (scripts/setup --runtime, kept complete by
#            tests/deploy/runtime_packages_test.py), a non-root user, a health check
#
#   docker build -t hybridserve .
#   docker run -p 127.0.0.1:50051:50051 -p 127.0.0.1:9464:9464 -v hybrid-state:/var/lib/hybridserve hybridserve
#   docker run --entrypoint hybridbridge hybridserve --mqtt=BROKER:1883 --target=SERVER:50051   # MQTT ingest
#
# Docker cannot run on our development machines; tests/deploy/dockerfile_check.py lints this file
# (dockerfile-utils) and checks it against the build and the binaries' flags.
FROM debian:12 AS build
WORKDIR /src
COPY . .
# Portable kernels (no -march=native): the image runs on CPUs other than the one that built it.
ENV CMAKE_ARGS=-DHYBRID_NATIVE_KERNELS=OFF
RUN scripts/setup && scripts/build hybridserve hybridctl hybridload hybridbridge

FROM debian:12 AS runtime
COPY scripts/setup /opt/hybridserve/scripts/setup
RUN /opt/hybridserve/scripts/setup --runtime && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/hybridserve --create-home hybridserve
COPY --from=build /src/build/server/hybridserve /src/build/client/hybridctl /src/build/loadtest/hybridload \
     /src/build/ingest/hybridbridge /usr/local/bin/
COPY deploy/model_repository /opt/hybridserve/model_repository
USER 10001:10001
WORKDIR /var/lib/hybridserve
# Write-ahead logs and checkpoints: keep them on a volume, or a restart forgets every calibration.
VOLUME /var/lib/hybridserve
EXPOSE 50051 9464
# grpc.health.v1 through hybridctl (no token needed; add --tls_ca when the port serves TLS).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["hybridctl", "--target=127.0.0.1:50051", "--timeout=3", "health"]
ENTRYPOINT ["hybridserve"]
CMD ["--model_repository=/opt/hybridserve/model_repository", "--state_dir=/var/lib/hybridserve", \
     "--grpc_address=0.0.0.0:50051", "--metrics_address=0.0.0.0:9464"]
