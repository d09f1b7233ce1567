#!/bin/sh
# Replays the dns-wire fuzz seeds (TAP).
exec "${top_builddir:-.}/tests/fuzz/fuzz-dns-wire" "${top_srcdir:-.}"/tests/fuzz/dns-wire-seeds/*
