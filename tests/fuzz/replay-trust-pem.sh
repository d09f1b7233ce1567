#!/bin/sh
# Replays the trust-pem fuzz corpus (TAP).
exec "${top_builddir:-.}/tests/fuzz/fuzz-trust-pem" "${top_srcdir:-.}"/tests/fuzz/corpus/trust-pem/*
