# hybridserve on Debian 12, built from Debian's packages only.
#   docker build -t hybridserve . && docker run -p 50051:50051 -p 9464:9464 hybridserve
# (Untested on our development machines, which have no Docker engine.)
FROM debian:12
WORKDIR /src
COPY . .
RUN scripts/setup && scripts/build && rm -rf /root/.cache/ccache
EXPOSE 50051 9464
CMD ["build/server/hybridserve", "--model_repository=deploy/model_repository", \
     "--grpc_address=0.0.0.0:50051", "--metrics_address=0.0.0.0:9464"]
