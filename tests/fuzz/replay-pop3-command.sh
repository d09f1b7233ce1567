#!/bin/sh
# Replays the pop3-command fuzz corpus (TAP).
exec "${top_builddir:-.}/tests/fuzz/fuzz-pop3-command" "${top_srcdir:-.}"/tests/fuzz/corpus/pop3-command/*
