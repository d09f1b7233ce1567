#!/bin/sh
# Replays the msg-headers fuzz corpus (TAP).
exec "${top_builddir:-.}/tests/fuzz/fuzz-msg-headers" "${top_srcdir:-.}"/tests/fuzz/corpus/msg-headers/*
