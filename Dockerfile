# syntax=docker/dockerfile:1
#
# bulkget as a container image: a static binary on distroless, running as a
# non-root user. Build and run:
#
#   docker build -t bulkget --build-arg VERSION=$(git describe --always) .
#   docker run --rm -v "$PWD:/data" bulkget -d /data/out /data/list.csv
#
# The build stage runs on the builder's platform and cross-compiles, so
# `docker buildx build --platform linux/amd64,linux/arm64` needs no emulation.

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
# Modules first, in their own layer: they change far less often than the code.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
# CGO_ENABLED=0: a static binary that needs no libc, which distroless/static
# does not have. -trimpath keeps the build machine's paths out of it.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/bulkget ./cmd/bulkget

# distroless/static has CA certificates (for https URLs), time zone data and a
# "nonroot" user (65532), and no shell or package manager to patch.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bulkget /usr/local/bin/bulkget
USER 65532:65532
WORKDIR /data
ENTRYPOINT ["/usr/local/bin/bulkget"]
CMD ["--help"]
