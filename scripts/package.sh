#!/usr/bin/env bash
# Builds the Debian package: ../uwrelay_<version>_<arch>.deb is moved to
# build/deb/ (or $DEB_DIR). Needs the build dependencies in debian/control
# (scripts/deps.sh --package installs them).
# Usage: scripts/package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=${DEB_DIR:-build/deb}
# dpkg-buildpackage writes its results next to the source tree; they are
# moved into $out. --post-clean removes its build folder (obj-*) afterwards.
dpkg-buildpackage -us -uc -b --post-clean -j"$(nproc)"
version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
mkdir -p "$out"
for f in ../uwrelay_"$version"_"$arch".deb ../uwrelay-dbgsym_"$version"_"$arch".deb \
	 ../uwrelay_"$version"_"$arch".buildinfo ../uwrelay_"$version"_"$arch".changes; do
	[ -e "$f" ] && mv -f "$f" "$out/"
done
echo "$out/uwrelay_${version}_${arch}.deb"
