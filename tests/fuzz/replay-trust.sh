#!/bin/sh
# Replays the trust fuzz corpus (TAP).
exec "${top_builddir:-.}/tests/fuzz/fuzz-trust" "${top_srcdir:-.}"/tests/fuzz/corpus/trust/*
