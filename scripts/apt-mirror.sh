#!/usr/bin/env bash
# debian_mirror [APT_DIR]: prints "URI<TAB>SIGNED_BY" of the machine's configured Debian 12
# (bookworm) main archive, read from APT_DIR/sources.list, APT_DIR/sources.list.d/*.list (one-line
# format) and APT_DIR/sources.list.d/*.sources (deb822), so bookworm-backports can be added from
# the same mirror or proxy (local mirrors, apt-cacher, snapshot servers keep working). SIGNED_BY
# is empty when the entry names no key. Disabled stanzas (Enabled: no), deb-src, cdrom: and the
# security archive (suite bookworm-security) are skipped. Prints nothing and returns 1 when no
# entry is found. Sourced by scripts/bootstrap.sh; tested by scripts/apt-mirror.test.ts.
debian_mirror() {
  local dir="${1:-/etc/apt}" f
  local files=()
  [ -r "$dir/sources.list" ] && files+=("$dir/sources.list")
  for f in "$dir"/sources.list.d/*.list; do [ -r "$f" ] && files+=("$f"); done
  local found=""
  if [ ${#files[@]} -gt 0 ]; then
    found=$(awk '
      /^[ \t]*#/ || NF == 0 { next }
      $1 != "deb" { next }
      {
        opts = ""; i = 2
        if ($2 ~ /^\[/) {                      # [ key=value ... ] options, possibly spread over fields
          while (i <= NF) { opts = opts " " $i; if ($i ~ /\]$/) { i++; break } i++ }
        }
        uri = $i; suite = $(i + 1); main = 0
        for (j = i + 2; j <= NF; j++) if ($j == "main") main = 1
        if (uri ~ /^cdrom:/ || suite != "bookworm" || !main) next
        signed = ""
        if (match(opts, /signed-by=[^] \t]+/)) signed = substr(opts, RSTART + 10, RLENGTH - 10)
        print uri "\t" signed; exit
      }' "${files[@]}")
  fi
  if [ -z "$found" ]; then
    local sources=()
    for f in "$dir"/sources.list.d/*.sources; do [ -r "$f" ] && sources+=("$f"); done
    if [ ${#sources[@]} -gt 0 ]; then
      found=$(awk '
        function flush() {
          if (types ~ /(^| )deb( |$)/ && enabled != "no" && suites ~ /(^| )bookworm( |$)/ && comps ~ /(^| )main( |$)/ && uris != "" && uris !~ /^cdrom:/) {
            split(uris, u, " "); print u[1] "\t" signed; done = 1; exit
          }
          types = uris = suites = comps = signed = enabled = ""
        }
        FNR == 1 && NR > 1 { flush() }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        /^[ \t]/ { next }                        # continuation line (e.g. an inline Signed-By key)
        {
          key = tolower($1); sub(/:$/, "", key); val = $0; sub(/^[^:]*:[ \t]*/, "", val); gsub(/[ \t]+/, " ", val)
          if (key == "types") types = val
          else if (key == "uris") uris = val
          else if (key == "suites") suites = val
          else if (key == "components") comps = val
          else if (key == "signed-by") signed = (val ~ /^\//) ? val : ""   # a key file path; inline keys are not reused
          else if (key == "enabled") enabled = tolower(val)
        }
        END { if (!done) flush() }' "${sources[@]}")
    fi
  fi
  [ -n "$found" ] || return 1
  printf '%s\n' "$found"
}

# backports_line [APT_DIR]: the one-line apt entry for bookworm-backports from the configured
# mirror (with its signed-by key when it has one); returns 1 when no bookworm entry is configured.
backports_line() {
  local found uri key
  found=$(debian_mirror "${1:-/etc/apt}") || return 1
  uri=${found%%$'\t'*}
  key=${found#*$'\t'}
  printf 'deb %s%s bookworm-backports main\n' "${key:+[signed-by=$key] }" "$uri"
}
