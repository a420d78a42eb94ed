#!/usr/bin/env bash
# Builds the Debian package of fusecry (cargo-deb; metadata in
# reference-cli/Cargo.toml): the release binary, one man page per command
# (`fusecry man --out-dir`), bash/zsh/fish completions and the docs. Then
# checks the package's file list: the binary, every man page the binary
# knows, and the three completions. Prints the .deb's path last.
#
#   packaging/deb.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
command -v cargo-deb >/dev/null || cargo install --locked cargo-deb@3.6.0
# cargo-deb reads the pages and completions from ./target/packaging (see
# reference-cli/Cargo.toml), whatever CARGO_TARGET_DIR says.
unset CARGO_TARGET_DIR
target=target
cargo build --release --locked -p fusecry
bin="$target/release/fusecry"
out="$target/packaging"
rm -rf "$out"; mkdir -p "$out/man" "$out/completions"
"$bin" man --out-dir "$out/man"
"$bin" completions bash > "$out/completions/fusecry.bash"
"$bin" completions zsh > "$out/completions/_fusecry"
"$bin" completions fish > "$out/completions/fusecry.fish"
deb=$(cargo deb -p fusecry --no-build --no-strip --output "$out/" | tail -n 1)
# The file list must hold everything above.
list=$(dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./||')
want=(usr/bin/fusecry
  usr/share/bash-completion/completions/fusecry
  usr/share/zsh/vendor-completions/_fusecry
  usr/share/fish/vendor_completions.d/fusecry.fish
  usr/share/doc/fusecry/README.md)
for page in "$out"/man/*.1; do want+=("usr/share/man/man1/$(basename "$page")"); done
missing=0
for f in "${want[@]}"; do
  if ! grep -qxF "$f" <<<"$list" && ! grep -qxF "$f.gz" <<<"$list"; then
    echo "deb.sh: $deb lacks $f" >&2; missing=1
  fi
done
[ "$missing" = 0 ] || exit 1
pages=$(ls "$out"/man/*.1 | wc -l)
[ "$pages" -ge 20 ] || { echo "deb.sh: only $pages man pages" >&2; exit 1; }
echo "deb.sh: ${#want[@]} files checked ($pages man pages) in $deb"
echo "$deb"
