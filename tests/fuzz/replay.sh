#!/bin/sh
# SPDX-License-Identifier: MIT
# Replays the fuzzer's committed corpus -- seeds and every crash it ever
# found -- against the model, with the plain build of fuzz_model.c.
set -u
b="${top_builddir:-.}"
s="${top_srcdir:-.}"
exec "$b/tests/fuzz/fuzz_replay" "$s"/tests/fuzz/corpus/*
