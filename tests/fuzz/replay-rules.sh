#!/bin/sh
# Replays the rules fuzz corpus (TAP).
exec "${top_builddir:-.}/tests/fuzz/fuzz-rules" "${top_srcdir:-.}"/tests/fuzz/corpus/rules/*
