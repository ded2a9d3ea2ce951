#!/usr/bin/env bash
# Every header compiles on its own (STYLE.md rule 6): for each header a
# one-line .c that includes only it is compiled with the project's flags.
# The SDK header must also compile as C++-safe C with -std=c99 and as
# C++ when a C++ compiler is present.
set -u
src=${VHOSTD_SRC_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
cc=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
flags="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wstrict-prototypes
    -Wmissing-prototypes -Wshadow -Wcast-qual -Wredundant-decls -Wundef
    -I$src/include -I$src/core $(pkg-config --cflags libevent_core)"
for h in "$src"/include/vhostd/*.h "$src"/core/*.h; do
	case "$h" in */include/*) inc="<vhostd/$(basename "$h")>" ;;
	*) inc="\"$(basename "$h")\"" ;; esac
	printf '#include %s\nint headers_test_dummy;\n' "$inc" >"$tmp/t.c"
	# shellcheck disable=SC2086
	if $cc $flags -c -o "$tmp/t.o" "$tmp/t.c" 2>"$tmp/err"; then
		pass=$((pass + 1))
	else
		echo "FAIL: $h is not self-contained:"; cat "$tmp/err"
		fail=$((fail + 1))
	fi
done
printf '#include <vhostd/vhostd.h>\nint headers_test_dummy;\n' >"$tmp/sdk.c"
if $cc -std=c99 -pedantic -Wall -Werror -I"$src/include" -c -o "$tmp/sdk.o" \
    "$tmp/sdk.c" 2>"$tmp/err"; then
	pass=$((pass + 1))
else
	echo "FAIL: vhostd.h as C99:"; cat "$tmp/err"; fail=$((fail + 1))
fi
if command -v c++ >/dev/null 2>&1; then
	cp "$tmp/sdk.c" "$tmp/sdk.cc"
	if c++ -Wall -Werror -I"$src/include" -c -o "$tmp/sdk.o" "$tmp/sdk.cc" \
	    2>"$tmp/err"; then
		pass=$((pass + 1))
	else
		echo "FAIL: vhostd.h as C++:"; cat "$tmp/err"; fail=$((fail + 1))
	fi
fi
echo "headers: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
