#!/bin/sh
# Replays the mime fuzz corpus (TAP).
exec "${top_builddir:-.}/tests/fuzz/fuzz-mime" "${top_srcdir:-.}"/tests/fuzz/corpus/mime/*
