#!/usr/bin/env python3
"""Checks the layout rules of README's "Layout" section over cmd/ and lib/:
no file over 1,500 lines; no function over 150 lines unless a comment
within the 5 lines above it holds "long:" and says why; main() under 80.
Prints one line per breach ("FILE:LINE: NAME is N lines") and exits 1 if
any; with -l lists every function's length instead."""
import glob, re, sys

FILE_MAX, FUNC_MAX, MAIN_MAX = 1500, 150, 80

def functions(path):
    lines = open(path, encoding='utf-8', errors='replace').read().split('\n')
    i = 0
    while i < len(lines):
        # a definition: '{' alone at column 0 after a header ending in ')'
        if lines[i] == '{' and i > 0 and lines[i - 1].rstrip().endswith(')'):
            h = i - 1  # the header's first line: the last one starting at column 0
            while h > 0 and lines[h].startswith(('\t', ' ', ')')):
                h -= 1
            k = i + 1
            while k < len(lines) and lines[k] != '}':
                k += 1
            m = re.search(r'([A-Za-z_][A-Za-z0-9_]*)\s*\(', ' '.join(lines[h:i]))
            if m:
                why = '\n'.join(lines[max(0, h - 6):h])
                yield m.group(1), h + 1, k - h + 1, 'long:' in why
            i = k + 1
        else:
            i += 1

def main():
    listing = '-l' in sys.argv
    bad = 0
    files = sorted(glob.glob('cmd/*.c') + glob.glob('cmd/*/*.c') + glob.glob('cmd/*/*.h') +
                   glob.glob('lib/*.c') + glob.glob('lib/*.cc') + glob.glob('lib/*.h'))
    for f in files:
        n = sum(1 for _ in open(f, encoding='utf-8', errors='replace'))
        if n > FILE_MAX and not listing:
            print(f'{f}:1: file is {n} lines (at most {FILE_MAX})'); bad += 1
        if not f.endswith(('.c', '.cc')):
            continue
        for name, line, length, excused in functions(f):
            if listing:
                print(f'{length:5d} {f}:{line}: {name}')
                continue
            limit = MAIN_MAX if name == 'main' else FUNC_MAX
            if length > limit and not (excused and name != 'main'):
                print(f'{f}:{line}: {name} is {length} lines (at most {limit})'); bad += 1
    return 1 if bad else 0

sys.exit(main())
