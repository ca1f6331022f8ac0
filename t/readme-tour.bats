#!/usr/bin/env bats
# Issue 9, acceptance: the README's "A tour" runs as it is written.
#
# The commands are the "$ " lines of the tour's indented blocks, run in
# order in one scratch directory with the README's own inputs (its heredocs)
# and the tools under test first in PATH, JRN_NOW fixed as in every test. A
# "$ " line goes on to the next lines while it is not a whole shell command
# (an open quote: bash -n says so) and, for a heredoc, up to its delimiter.
# The lines after a command, up to the next "$ " line or the block's end,
# are what it prints, standard output and error together.
#
# Convention for what the README leaves out:
# - "..." or "…" inside a line stands for any text (a hash, a pid);
# - a line that is only "..." stands for any number of lines, and ends the
#   comparison of that command's output;
# - a command the README shows without output is run, its output not
#   compared; one whose own text holds "..." or "…" (an id the reader
#   fills in) is not run.
# Sections whose output is a sample of a machine and an hour (times,
# durations, run numbers) are skipped, named in SKIP with the test that
# covers them instead.

load helpers

README=$BATS_TEST_DIRNAME/../README.md
# The tour runs whole: "Operating it" (jobs, cron, the operator verbs) is
# after it, checked by t/cron.bats, t/jrn-run.bats and t/jrn-admin.bats.
SKIP=''

# steps DIR: writes DIR/NNN.cmd (and DIR/NNN.out when output is shown)
steps() {
	python3 - "$README" "$1" "$SKIP" <<-'PY'
	import os, re, subprocess, sys
	readme, out, skip = sys.argv[1], sys.argv[2], sys.argv[3].split("\n")
	text = open(readme, encoding="utf-8").read()
	tour = text[text.index("\n## A tour\n"):]
	tour = tour[:tour.index("\n## ", 1)]
	section, block, blocks = None, [], []
	for line in tour.split("\n") + [""]:
	    if line.startswith("### "):
	        section = line[4:].strip()
	    if line.startswith("    "):
	        block.append(line[4:])
	    elif line.strip() == "" and block:
	        block.append("")
	    else:
	        if block:
	            blocks.append((section, block))
	        block = []
	    if line == "" and block == [""]:
	        block = []
	n = 0
	for section, lines in blocks:
	    if section in skip:
	        continue
	    while lines and lines[-1] == "":
	        lines.pop()
	    i = 0
	    while i < len(lines):
	        if not lines[i].startswith("$ "):
	            i += 1
	            continue
	        cmd = lines[i][2:]
	        i += 1
	        m = re.search(r"<<-?'?(\w+)'?", cmd)
	        if m:
	            while i < len(lines) and lines[i] != m.group(1):
	                cmd += "\n" + lines[i]
	                i += 1
	            cmd += "\n" + m.group(1)
	            i += 1
	        while i < len(lines) and subprocess.run(["bash", "-n", "-c", cmd],
	                stderr=subprocess.DEVNULL).returncode != 0:
	            cmd += "\n" + lines[i]
	            i += 1
	        shown = []
	        while i < len(lines) and not lines[i].startswith("$ "):
	            shown.append(lines[i])
	            i += 1
	        while shown and shown[-1] == "":
	            shown.pop()
	        if "..." in cmd or "\u2026" in cmd:
	            continue
	        n += 1
	        base = os.path.join(out, "%03d" % n)
	        open(base + ".cmd", "w").write(cmd + "\n")
	        if shown:
	            open(base + ".out", "w").write("\n".join(shown) + "\n")
	PY
}

# matches SHOWN ACTUAL: the README's output against the real one
matches() {
	python3 - "$1" "$2" <<-'PY'
	import re, sys
	shown = open(sys.argv[1], encoding="utf-8").read().split("\n")[:-1]
	real = open(sys.argv[2], encoding="utf-8").read().split("\n")
	if real and real[-1] == "":
	    real.pop()
	for k, want in enumerate(shown):
	    if want.strip() == "...":
	        sys.exit(0)
	    got = real[k] if k < len(real) else None
	    pat = ".*".join(re.escape(p) for p in re.split(r"\.\.\.|\u2026", want))
	    if got is None or not re.fullmatch(pat, got):
	        print("line %d: README: %s\n        real:   %s" % (k + 1, want, got))
	        sys.exit(1)
	if len(real) > len(shown):
	    print("line %d: README: (end)\n        real:   %s" % (len(shown) + 1, real[len(shown)]))
	    sys.exit(1)
	PY
}

@test "README tour: every command runs and prints what the README shows" {
	mkdir -p "$BATS_TEST_TMPDIR/steps" "$BATS_TEST_TMPDIR/tour"
	steps "$BATS_TEST_TMPDIR/steps"
	cd "$BATS_TEST_TMPDIR/tour"
	local f n=0 bad=0 st=0
	for f in "$BATS_TEST_TMPDIR"/steps/*.cmd; do
		n=$((n + 1))
		# $? of the previous command is the README's "echo $?"
		eval "(exit $st); $(cat "$f")" > "${f%.cmd}.real" 2>&1 && st=0 || st=$?
		if [ -e "${f%.cmd}.out" ] && ! matches "${f%.cmd}.out" "${f%.cmd}.real" > "${f%.cmd}.diff"; then
			echo "# \$ $(head -1 "$f")" >&3
			sed 's/^/#   /' "${f%.cmd}.diff" >&3
			bad=$((bad + 1))
		fi
	done
	[ "$n" -ge 15 ]
	assert_equal "$bad" 0
}
