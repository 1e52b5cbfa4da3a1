#!/bin/sh
# What the demo container prints: who and where it is, and what was built into it.
echo "$GREETING"
echo "I am $(id -un) on $(hostname), in $(pwd)"
cat "$APP_HOME/message.txt"
echo "primes made at build time: $(cat "$APP_HOME/primes.txt")"
cat "$APP_HOME/build-info.txt"
echo "data files: $(ls "$APP_HOME/data" | tr '\n' ' ')"
