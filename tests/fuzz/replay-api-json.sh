#!/bin/sh
# Replays the api-json fuzz corpus (TAP).
exec "${top_builddir:-.}/tests/fuzz/fuzz-api-json" "${top_srcdir:-.}"/tests/fuzz/corpus/api-json/*
