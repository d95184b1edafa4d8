#!/usr/bin/env bash
# Prepares, on this machine, the Debian packages a GPU machine needs to build pthrun and cannot
# download itself (it reaches no registry): libzip, zlib's headers, OpenBLAS, doctest and
# pkg-config, unpacked into .gpu-deps/root (headers, pkg-config files, CMake configs) and
# .gpu-deps/lib (the shared libraries pthrun runs with). .gpu-deps/ is ignored by git; carry it
# with the device tool's run, and tools/gpu-check.sh finds it there.
#
#   bash tools/gpu-deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=.gpu-deps
rm -rf "$out" && mkdir -p "$out/debs" "$out/root"
packages=(libzip4 libzip-dev zlib1g-dev libopenblas0-pthread libopenblas-pthread-dev libopenblas-dev
          libgfortran5 libquadmath0 doctest-dev pkgconf pkgconf-bin libpkgconf3 pkg-config)
(cd "$out/debs" && apt-get download "${packages[@]}" > /dev/null)
for deb in "$out"/debs/*.deb; do dpkg -x "$deb" "$out/root"; done
rm -rf "$out/debs"
# Only what a build and a run need: no static libraries, LAPACK or documentation (the device
# tool carries at most 64 MiB with the working tree).
find "$out/root" \( -name '*.a' -o -name 'liblapack*' \) -delete
rm -rf "$out/root/usr/share/doc" "$out/root/usr/share/man" "$out/root/usr/share/lintian"
# Debian's OpenBLAS is found through alternatives symlinks that dpkg -x does not make.
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
lib="$out/root/usr/lib/$arch"
ln -sf openblas-pthread/libopenblas.so.0 "$lib/libopenblas.so.0"
ln -sf openblas-pthread/libopenblas.so "$lib/libopenblas.so"
ln -sf openblas-pthread/pkgconfig/openblas.pc "$lib/pkgconfig/openblas.pc" 2>/dev/null || true
# At run time only these go on the library path, so that Python and PyTorch there keep their own
# libraries; what libzip links to besides (zlib, bzip2, xz, zstd, GnuTLS) every image has.
mkdir -p "$out/lib"
for so in libzip.so.4 libopenblas.so.0 libgfortran.so.5 libquadmath.so.0 libpkgconf.so.3; do
  cp -L "$lib/$so" "$out/lib/$so"
done
# OpenBLAS is large: the unpacked tree points at the one copy in lib/.
real=$(readlink -f "$lib/libopenblas.so.0")
ln -sf "$(realpath --relative-to="$(dirname "$real")" "$out/lib/libopenblas.so.0")" "$real"
du -sh "$out"
