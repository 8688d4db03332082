#!/usr/bin/env bash
# Installs every Debian and npm dependency of Remora, skipping what is already present.
# Idempotent: a second run installs nothing and takes about a second.
set -euo pipefail

# Debian packages: build toolchain and libraries, then the real programs tests and benchmarks drive.
build_pkgs=(cmake ninja-build g++ ccache pkg-config
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc libyaml-cpp-dev libre2-dev libspdlog-dev libfmt-dev
  libssl-dev libnghttp2-dev libc-ares-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-16 libclang-rt-16-dev clang-tidy-16 clang-format-16)
peer_pkgs=(curl haproxy nginx-light iptables iproute2 python3 python3-pytest procps wrk hey nghttp2-client nghttp2-server nghttp2-proxy dnsmasq valgrind linux-perf)

missing=()
for p in "${build_pkgs[@]}" "${peer_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "deps: missing Debian packages (run as root to install): ${missing[*]}" >&2
    exit 1
  fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node.js runs the npm-based test clients; the machine image may ship its own build, so only
# install Debian's when none is present (Debian's nodejs conflicts with a separately installed npm).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

# npm packages the integration tests drive (@grpc/grpc-js peers), pinned by test/node's
# package-lock.json and installed into test/node/node_modules (ignored by git). The copy of the
# lock file kept in node_modules says the install is current, so a second run does nothing.
node_dir="$(cd "$(dirname "$0")/.." && pwd)/test/node"
if ! cmp -s "$node_dir/package-lock.json" "$node_dir/node_modules/.remora-installed-lock.json"; then
  echo "deps: installing npm packages into $node_dir/node_modules"
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$node_dir/package-lock.json" "$node_dir/node_modules/.remora-installed-lock.json"
fi

# Package installs may start daemons under a service manager; tests start their own peers.
for svc in nginx haproxy nghttpx dnsmasq; do
  if command -v service >/dev/null && pgrep -x "$svc" >/dev/null; then service "$svc" stop >/dev/null 2>&1 || true; fi
done
echo "deps: ok"
