#!/usr/bin/env bash
# Fetches the official Envoy API protos (bundled in the npm package @grpc/grpc-js-xds, pinned and
# checksum-verified), patches the one field its validate.proto lacks, and generates C++ for the roots
# in api/protos.txt plus every file they import. Never committed: everything lands under OUT.
#   usage: envoy_api.sh ROOTS_FILE OUT
set -euo pipefail
roots_file=$1
out=$2
pkg="@grpc/grpc-js-xds@1.14.1"
sha256="fd27db4119c139d5b59e8fe99d109bed04bff491302743ae3bf096667105c607"
tgz_name="grpc-grpc-js-xds-1.14.1.tgz"
cache="${REMORA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/remora}"

mkdir -p "$out" "$cache"
if [[ ! -f "$cache/$tgz_name" ]] || ! echo "$sha256  $cache/$tgz_name" | sha256sum -c --quiet - 2>/dev/null; then
  (cd "$cache" && npm pack --silent "$pkg" >/dev/null)
fi
echo "$sha256  $cache/$tgz_name" | sha256sum -c --quiet - || {
  echo "envoy_api: checksum mismatch for $pkg" >&2; exit 1; }

stamp="$out/.stamp"
want="$sha256 $(sha256sum "$roots_file" "$0" | cut -c1-64 | tr '\n' ' ')"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then exit 0; fi

rm -rf "$out/src" "$out/gen" && mkdir -p "$out/src" "$out/gen"
tar -xzf "$cache/$tgz_name" -C "$out/src" package/deps
deps="$out/src/package/deps"

# The bundled protoc-gen-validate predates StringRules.ignore_empty (field 26), which the Envoy
# protos use; add exactly that field so the options parse.
validate="$deps/protoc-gen-validate/validate/validate.proto"
grep -q 'ignore_empty' "$validate" || python3 - "$validate" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path).read()
anchor = "optional bool strict = 25 [default = true];"
assert anchor in text, "validate.proto layout changed"
text = text.replace(anchor, anchor + "\n\n  // Added by remora's build (upstream field 26).\n  optional bool ignore_empty = 26;", 1)
open(path, "w").write(text)
PY

includes=(-I"$deps/envoy-api" -I"$deps/xds" -I"$deps/googleapis" -I"$deps/protoc-gen-validate")
mapfile -t roots < <(grep -v '^\s*#' "$roots_file" | grep -v '^\s*$')
protoc "${includes[@]}" --include_imports --descriptor_set_out="$out/closure.pb" "${roots[@]}"
sysproto=$(dirname "$(dirname "$(dirname "$(command -v protoc)")")")/include
[[ -f "$sysproto/google/protobuf/descriptor.proto" ]] || sysproto=/usr/include
protoc -I"$sysproto" --decode=google.protobuf.FileDescriptorSet google/protobuf/descriptor.proto \
  <"$out/closure.pb" | sed -n 's/^  name: "\(.*\)"$/\1/p' | grep -v '^google/protobuf/' >"$out/files.txt"
mapfile -t files <"$out/files.txt"
protoc "${includes[@]}" --cpp_out="$out/gen" "${files[@]}"
sed 's/\.proto$/.pb.cc/' "$out/files.txt" >"$out/sources.txt"
echo "$want" >"$stamp"
echo "envoy_api: generated $(wc -l <"$out/files.txt") files"
