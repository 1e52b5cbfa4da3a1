/** What the devices cgroup lets a process open, asked of the kernel by a small Python program (Debian's python3). */
export const PY = '/usr/bin/python3';

/**
 * `python3 -c OPEN_PROBE PATH:MODE…`: opens each PATH for reading (r) or writing (w) and closes it again,
 * reading and writing nothing; prints {spec: "ok" or the errno's name} as JSON. Only character devices are
 * ever given with w.
 */
export const OPEN_PROBE = `import errno, json, os, sys
out = {}
for spec in sys.argv[1:]:
    path, mode = spec.rsplit(':', 1)
    try:
        os.close(os.open(path, os.O_WRONLY if mode == 'w' else os.O_RDONLY))
        out[spec] = 'ok'
    except OSError as e:
        out[spec] = errno.errorcode[e.errno]
print(json.dumps(out))`;
