#!/usr/bin/env bash
# Downloads (apt-get download, no install) the Debian packages the GPU machine lacks for a
# full Sturdy build, with their library dependencies, into .deps/debs/ (git-ignored; carried
# to the GPU machine, where scripts/gpu-check.sh unpacks them with dpkg -x).
# The GPU machine has CUDA, NCCL, PyTorch (LibTorch), a compiler, CMake and ninja, and no
# package registry. Base libraries every Linux image has (libc, libstdc++, zlib, ...) are
# left out: loading Debian's copies over the image's would break it.
# Usage: scripts/fetch-gpu-deps.sh [DEST]   (default .deps/debs)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.deps/debs}
mkdir -p "$dest"

roots=(libopenmpi-dev openmpi-bin libhdf5-dev libyaml-cpp-dev libfmt-dev libspdlog-dev libcli11-dev
       nlohmann-json3-dev libgtest-dev libsentencepiece-dev libssl-dev pkgconf)
# Never carried: C runtime, loader-level and image-base libraries, and Debian's tooling.
skip_re='^(libc6|libc6-dev|libc-dev-bin|linux-libc-dev|libgcc-s1|libstdc\+\+6|libstdc\+\+-.*-dev|gcc-.*|cpp-.*|g\+\+.*|libgcc-.*-dev|libcrypt1|libcrypt-dev|zlib1g|libzstd1|liblzma5|libbz2-1\.0|libselinux1|libpcre2-.*|debconf|dpkg|perl-base|perl|perl-modules-.*|libperl.*|tar|coreutils|bash|sensible-utils|libtinfo6|libudev1|libsystemd0|libcap2|libgcrypt20|libgpg-error0|liblz4-1|libssl3|libffi8|libnsl.*|libtirpc.*|libgssapi-krb5-2|libkrb5.*|libk5crypto3|libcom-err2|libkeyutils1|ucf|libmd0|libbsd0|init-system-helpers|lsb-base|sysvinit-utils|mount|libmount1|libblkid1|libuuid1|libsmartcols1|libaudit.*|libpam.*|libsemanage.*|libsepol.*|libattr1|libacl1|libgmp10|libidn2-0|libunistring2|libp11-kit0|libtasn1-6|libnettle8|libhogweed6|libgnutls30|libdb5\.3|libsqlite3-0|libexpat1|libncursesw6|libreadline8|readline-common|libpython3.*|python3.*|libgfortran5|libquadmath0|libgomp1|libatomic1|libasan.*|libubsan.*|liblsan0|libtsan.*|libitm1|libcc1-0|libisl23|libmpc3|libmpfr6|binutils.*|libbinutils|libctf.*|libgprofng0|libjansson4|libsframe.*|make|patch|xz-utils|dpkg-dev|libdpkg-perl|build-essential|bzip2|gfortran-.*|libgfortran-.*-dev|libhdf5-.*fortran.*|libjs-.*|autoconf|automake|autotools-dev|m4|adduser|passwd|openssh-client|debianutils|libx11-.*|libxcb1|libxau6|libxdmcp6|libxext6|libxnvctrl0|ocl-icd-libopencl1|libhwloc-plugins|libfido2-1|libcbor0\.8|libedit2)$'

# Depends/Pre-Depends closure taking the first alternative of each group (what apt would
# pick on a bare system), minus the base libraries above.
mapfile -t keep < <(SKIP_RE="$skip_re" python3 - "${roots[@]}" <<'PY'
import os, re, subprocess, sys
skip = re.compile(os.environ["SKIP_RE"])
seen, todo, keep = set(), list(sys.argv[1:]), []
while todo:
    pkg = todo.pop()
    if pkg in seen or skip.match(pkg):
        continue
    seen.add(pkg)
    out = subprocess.run(["apt-cache", "depends", "--important", pkg], capture_output=True, text=True).stdout
    lines = out.splitlines()[1:]
    if not out.strip():
        continue
    keep.append(pkg)
    i, take_next = 0, True
    while i < len(lines):
        line = lines[i].strip()
        alt = line.startswith("|")
        m = re.match(r"\|?(Pre)?Depends: (\S+)", line)
        if m:
            name = m.group(2)
            if take_next:
                if name.startswith("<"):  # virtual: its first provider is the next indented line
                    j = i + 1
                    while j < len(lines) and not re.match(r"\s*\|?(Pre)?Depends:", lines[j]):
                        if lines[j].startswith("    "):
                            todo.append(lines[j].strip())
                            break
                        j += 1
                else:
                    todo.append(name)
            take_next = not alt  # the rest of an alternative group is skipped
        i += 1
print("\n".join(sorted(keep)))
PY
)
echo "fetch-gpu-deps: ${#keep[@]} packages -> $dest"
(cd "$dest" && apt-get download "${keep[@]}" >/dev/null)
printf '%s\n' "${keep[@]}" > "$dest/PACKAGES"
du -sh "$dest"
