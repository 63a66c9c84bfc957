#!/usr/bin/env bash
# Builds the .deb from a finished build folder, installs it into a scratch root and runs the
# installed exporter as an operator would: --version, then a scrape of its /metrics.
#   tests/packaging/deb_test.sh BUILD_DIR SOURCE_DIR VERSION
#
# Checks: the package's name, version, conffile and maintainer scripts; Depends names the Debian
# package of every shared library the built binaries load (dpkg-shlibdeps at work); the runtime
# stage of deploy/docker/Dockerfile installs each of them; the installed files sit where the
# README says; the installed unit passes verify_unit.sh; the postinst creates the system user
# once, however often it runs; the installed binary starts from the installed example config.
set -euo pipefail

usage="usage: deb_test.sh BUILD_DIR SOURCE_DIR VERSION"
build=$(realpath "${1:?$usage}")
source=$(realpath "${2:?$usage}")
version=${3:?$usage}
here=$(dirname "$(realpath "$0")")

fail() {
  echo "deb_test: FAIL: $*" >&2
  exit 1
}

for tool in cpack dpkg-deb dpkg-shlibdeps curl ldd readelf; do
  command -v "$tool" >/dev/null || fail "$tool not found (Debian packages: cmake dpkg-dev curl binutils)"
done

scratch=$(mktemp -d)
exporter_pid=""
cleanup() {
  if [[ -n "$exporter_pid" ]]; then
    kill "$exporter_pid" 2>/dev/null || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT

# --- build the package -----------------------------------------------------------------------
if ! cpack -G DEB -B "$scratch/pkg" --config "$build/CPackConfig.cmake" >"$scratch/cpack.log" 2>&1; then
  cat "$scratch/cpack.log" >&2
  fail "cpack -G DEB failed"
fi
debs=("$scratch"/pkg/*.deb)
[[ ${#debs[@]} -eq 1 && -f "${debs[0]}" ]] || fail "cpack made ${#debs[@]} .deb files, expected 1"
deb=${debs[0]}

field() { dpkg-deb -f "$deb" "$1"; }
[[ $(field Package) == heartbeat-exporter ]] || fail "Package is '$(field Package)'"
[[ $(field Version) == "$version" ]] || fail "Version is '$(field Version)', project is '$version'"
[[ $(basename "$deb") == "heartbeat-exporter_${version}_$(dpkg --print-architecture).deb" ]] ||
  fail "file name is $(basename "$deb")"

# --- Depends: one entry for every library the binaries load, plus adduser for the postinst ----
depends=$(field Depends)
depends_names=$(tr ',' '\n' <<<"$depends" | sed 's/^ *//; s/[ (].*//')
grep -qx adduser <<<"$depends_names" || fail "Depends lacks adduser (the postinst runs it): $depends"

owner_of() {
  local library=$1 candidate
  for candidate in "$library" "${library#/usr}" "/usr$library"; do
    dpkg-query -S "$candidate" 2>/dev/null | head -n 1 | cut -d: -f1 && return 0
  done
  fail "no Debian package owns $library"
}
needed=$(for binary in "$build/heartbeat_exporter" "$build/heartbeatctl"; do
  ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'
done | sort -u | while read -r library; do owner_of "$library"; done | sort -u)
[[ -n "$needed" ]] || fail "found no shared libraries in ldd output of the built binaries"
for package in $needed; do
  grep -qx "$package" <<<"$depends_names" || fail "Depends lacks $package: $depends"
done
# civetweb is compiled in, with OpenSSL 3 linked (deploy/cmake/Civetweb.cmake).
grep -qx libssl3 <<<"$depends_names" || fail "Depends lacks libssl3 (civetweb links it): $depends"
if grep -qx libcivetweb1 <<<"$depends_names"; then fail "Depends names libcivetweb1: $depends"; fi

# The runtime image must install the same libraries: every word of its stage counts.
runtime_words=$(awk 'runtime { for (i = 1; i <= NF; i++) print $i } /^FROM debian:12$/ { runtime = 1 }' \
  "$source/deploy/docker/Dockerfile")
[[ -n "$runtime_words" ]] || fail "deploy/docker/Dockerfile has no runtime stage 'FROM debian:12'"
for package in $depends_names; do
  [[ $package == adduser ]] && continue
  grep -qx "$package" <<<"$runtime_words" ||
    fail "deploy/docker/Dockerfile's runtime stage does not install $package (in the .deb's Depends)"
done

# --- control files -----------------------------------------------------------------------------
control="$scratch/control"
dpkg-deb -e "$deb" "$control"
[[ $(cat "$control/conffiles") == /etc/heartbeat_exporter/config.json ]] ||
  fail "conffiles is '$(cat "$control/conffiles")'"
for script in postinst prerm postrm; do
  [[ -x "$control/$script" ]] || fail "$script is missing or not executable"
  sh -n "$control/$script" || fail "$script is not valid sh"
done

# The postinst against stand-ins for getent, adduser and systemctl: the user is created on the
# first configure only, and nothing else is touched.
shims="$scratch/shims"
mkdir -p "$shims"
cat >"$shims/getent" <<EOF
#!/bin/sh
[ "\$1 \$2" = "passwd heartbeat_exporter" ] && [ -f "$scratch/user-exists" ]
EOF
cat >"$shims/adduser" <<EOF
#!/bin/sh
echo "adduser \$*" >>"$scratch/calls"
touch "$scratch/user-exists"
EOF
cat >"$shims/systemctl" <<EOF
#!/bin/sh
echo "systemctl \$*" >>"$scratch/calls"
EOF
chmod +x "$shims"/*
for _ in 1 2; do
  PATH="$shims:$PATH" "$control/postinst" configure "" >/dev/null || fail "postinst configure failed"
done
adduser_calls=$(grep -c '^adduser ' "$scratch/calls" || true)
[[ $adduser_calls -eq 1 ]] || fail "two postinst runs called adduser $adduser_calls times, expected 1"
grep -qx 'adduser --system --group --no-create-home --home /nonexistent heartbeat_exporter' \
  "$scratch/calls" || fail "postinst ran: $(cat "$scratch/calls")"

# --- the installed files ------------------------------------------------------------------------
root="$scratch/root"
dpkg-deb -x "$deb" "$root"
doc=usr/share/doc/heartbeat-exporter
expected_files=(usr/bin/heartbeat_exporter usr/bin/heartbeatctl etc/heartbeat_exporter/config.json
  usr/lib/systemd/system/heartbeat_exporter.service "$doc/README.md"
  "$doc/deploy/README.md" "$doc/examples/config.example.json" "$doc/heartbeat_exporter.txt"
  "$doc/heartbeatctl.txt")
# The Python package: every module of src/python/heartbeat_exporter, and py.typed.
for module in "$source"/src/python/heartbeat_exporter/*.py "$source"/src/python/heartbeat_exporter/py.typed; do
  expected_files+=("usr/lib/python3/dist-packages/heartbeat_exporter/$(basename "$module")")
done
for file in "${expected_files[@]}"; do
  [[ -f "$root/$file" ]] || fail "the package does not install /$file"
done
# A runtime package: nothing else, in particular not the writer's headers, library and CMake
# package (`cmake --install` component Development).
extra=$(comm -23 <(cd "$root" && find . -type f -printf '%P\n' | sort) \
  <(printf '%s\n' "${expected_files[@]}" | sort))
[[ -z "$extra" ]] || fail "the package installs files it should not: $(tr '\n' ' ' <<<"$extra")"
head -n 1 "$root/$doc/heartbeat_exporter.txt" | grep -q '^usage: heartbeat_exporter' ||
  fail "$doc/heartbeat_exporter.txt is not heartbeat_exporter --help"
grep -q '^usage: heartbeatctl beat' "$root/$doc/heartbeatctl.txt" ||
  fail "$doc/heartbeatctl.txt lacks heartbeatctl beat --help"
sections=$(readelf -S "$root/usr/bin/heartbeat_exporter")
if grep -q '\.symtab' <<<"$sections"; then
  fail "the packaged heartbeat_exporter is not stripped"
fi

# The Python package imports from the scratch root (and not from anywhere else).
python_dir="$root/usr/lib/python3/dist-packages"
imported=$(cd "$scratch" && PYTHONPATH="$python_dir" python3 -c \
  'from heartbeat_exporter.writer import HeartbeatWriter; import heartbeat_exporter as p; print(p.__file__)') ||
  fail "python3 cannot import heartbeat_exporter.writer from /usr/lib/python3/dist-packages"
[[ $imported == "$python_dir/heartbeat_exporter/__init__.py" ]] || fail "python3 imported $imported"
[[ -f "$python_dir/heartbeat_exporter/py.typed" ]] || fail "the Python package lacks py.typed"

bash "$here/verify_unit.sh" "$root/usr/lib/systemd/system/heartbeat_exporter.service" \
  "$root/usr/bin/heartbeat_exporter" >/dev/null || fail "the installed unit fails verify_unit.sh"

# --- run the installed binaries ------------------------------------------------------------------
installed_version=$("$root/usr/bin/heartbeat_exporter" --version)
[[ $installed_version == "heartbeat_exporter, version $version "* ]] ||
  fail "installed heartbeat_exporter --version said: $installed_version"

heartbeats="$scratch/heartbeats"
config="$scratch/config.json"
sed "s#\"/var/lib/heartbeats\"#\"$heartbeats\"#" "$root/etc/heartbeat_exporter/config.json" >"$config"
grep -q "\"$heartbeats\"" "$config" || fail "the example config does not name /var/lib/heartbeats"
"$root/usr/bin/heartbeatctl" beat --dir "$heartbeats" --key packaged_worker --pid $$ ||
  fail "installed heartbeatctl beat failed"

"$root/usr/bin/heartbeat_exporter" --config.file="$config" \
  --web.listen-address=127.0.0.1:0 2>"$scratch/exporter.log" &
exporter_pid=$!
port=""
for _ in $(seq 100); do
  port=$(grep -o 'address=127\.0\.0\.1:[0-9]*' "$scratch/exporter.log" | head -n 1 | cut -d: -f2 || true)
  [[ -n "$port" ]] && break
  kill -0 "$exporter_pid" 2>/dev/null || break
  sleep 0.1
done
[[ -n "$port" ]] || fail "installed exporter did not start: $(cat "$scratch/exporter.log")"

metrics=$(curl -fsS --max-time 10 "http://127.0.0.1:$port/metrics") || fail "scraping /metrics failed"
grep -q "^heartbeat_exporter_build_info{.*version=\"$version\".*} 1$" <<<"$metrics" ||
  fail "no heartbeat_exporter_build_info with version=\"$version\" in: $metrics"
grep -qx 'heartbeat_state{process="packaged_worker",state="healthy"} 1' <<<"$metrics" ||
  fail "packaged_worker is not healthy in: $(grep '^heartbeat_state' <<<"$metrics")"

kill -TERM "$exporter_pid"
status=0
wait "$exporter_pid" || status=$?
exporter_pid=""
[[ $status -eq 0 ]] || fail "installed exporter exited with status $status after SIGTERM"

echo "deb_test: $(basename "$deb") installs and runs; Depends: $depends"
