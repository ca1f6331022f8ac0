#!/bin/sh
# Writes the hostile inputs too big to keep in the tree into DIR/json,
# DIR/config and DIR/rules (t/hostile.bats runs them beside the files of
# t/hostile/json, config and rules): a 2 MiB string, JSON nested 100,000
# deep, 100,000 members, a 64 KiB key, a 1 MiB number; YAML nested 20,000
# deep as a config and as a rule.
dir=$1
mkdir -p "$dir/json" "$dir/config" "$dir/rules" || exit 1
ev() { printf '{"type":"page.viewed","customerId":"h","timestamp":"2025-06-01T12:00:00Z",%s}' "$1"; }
big() { head -c "$1" /dev/zero | tr '\0' "$2"; }
ev "\"note\":\"$(big 2097152 x)\"" > "$dir/json/huge-string-2mib"
{ printf '{"type":"page.viewed","customerId":"h","d":'; big 100000 '['; big 100000 ']'; printf '}'; } > "$dir/json/deep-100000"
{ printf '{"type":"page.viewed","customerId":"h"'; seq 1 100000 | sed 's/.*/,"k&":&/' | tr -d '\n'; printf '}'; } > "$dir/json/members-100000"
ev "\"$(big 65536 k)\":1" > "$dir/json/key-64kib"
ev "\"properties\":{\"amount\":$(big 1048576 9)}" > "$dir/json/number-1mib"
{ printf 'db: '; big 20000 '['; big 20000 ']'; echo; } > "$dir/config/deep-nesting.yaml"
{ printf 'deep:\n  rule: '; seq 20000 | sed 's/.*/{not: /' | tr -d '\n'; printf '{field: x, op: is_set}'; big 20000 '}'; echo; } > "$dir/rules/deep-not.yaml"
