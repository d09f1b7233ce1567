#!/bin/sh
# Replays the pop3c fuzz corpus (TAP).
exec "${top_builddir:-.}/tests/fuzz/fuzz-pop3c" "${top_srcdir:-.}"/tests/fuzz/corpus/pop3c/*
