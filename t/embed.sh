#!/bin/sh
# Turns a text file into a C string constant: embed.sh NAME FILE > OUT.h
name=$1 file=$2
printf 'static const char %s[] =\n' "$name"
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$/\\n"/' "$file"
printf ';\n'
