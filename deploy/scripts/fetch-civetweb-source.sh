#!/usr/bin/env bash
# Fetches Debian 12's civetweb source package with apt's source mechanism and unpacks it, Debian's
# patches applied, where deploy/cmake/Civetweb.cmake builds it from:
#   deploy/scripts/fetch-civetweb-source.sh [DIR]    (default /var/cache/heartbeat_exporter/civetweb-src)
# Debian's libcivetweb1 is built without IPv6 and loads OpenSSL 1.1 at run time; the exporter
# compiles the same source itself with IPv6 on and OpenSSL 3 linked. Where apt has no deb-src
# entry, one is derived from the machine's own Debian entry in a private apt configuration, so
# that the system's apt sources stay untouched.
set -euo pipefail

version=1.15+dfsg-4
dest=${1:-${HEARTBEAT_CIVETWEB_SOURCE_DIR:-/var/cache/heartbeat_exporter/civetweb-src}}
stamp="$dest/.heartbeat-exporter-source"
if [[ -f "$stamp" && "$(cat "$stamp")" == "civetweb $version" ]]; then
  exit 0
fi
for tool in apt-get dpkg-source; do
  if ! command -v "$tool" >/dev/null; then
    echo "fetch-civetweb-source: $tool not found (Debian packages apt, dpkg-dev)" >&2
    exit 1
  fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get source -qq --download-only "civetweb=$version" >/dev/null 2>&1; then
  # No deb-src entry: the Debian mirror this machine already installs from serves the source too.
  site=$(apt-get indextargets --format '$(SITE)' 'Identifier: Packages' 'Release: bookworm' \
    'Component: main' 'Origin: Debian' | head -n 1)
  if [[ -z "$site" ]]; then
    echo "fetch-civetweb-source: apt has no Debian bookworm main entry to derive a deb-src one from" >&2
    exit 1
  fi
  mkdir -p apt/lists/partial apt/cache/archives/partial
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $site bookworm main" \
    >apt/sources.list
  private=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
           -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache"
           -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  apt-get "${private[@]}" -qq update
  apt-get "${private[@]}" -qq source --download-only "civetweb=$version" >/dev/null
fi
# apt checked the files against the signed Sources index; dpkg-source applies debian/patches.
dpkg-source --no-check -x "civetweb_$version.dsc" source >/dev/null
echo "civetweb $version" >source/.heartbeat-exporter-source
mkdir -p "$(dirname "$dest")"
rm -rf "$dest"
mv source "$dest"
echo "fetch-civetweb-source: civetweb $version unpacked in $dest" >&2
