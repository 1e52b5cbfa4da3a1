import { check, libcFunction } from './libc.ts';

// Node's fs has no extended-attribute calls; these are getxattr(2)'s l* forms,
// which act on a symlink itself rather than what it points to.
const lsetxattr = libcFunction('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)');
const lgetxattr = libcFunction('intptr_t lgetxattr(const char *path, const char *name, void *value, size_t size)');
const llistxattr = libcFunction('intptr_t llistxattr(const char *path, void *list, size_t size)');

export function setXattr(path: string, name: string, value: string | Uint8Array): void {
  const data = Buffer.from(value);
  check(lsetxattr(path, name, data, data.length, 0), 'lsetxattr', path);
}

export function getXattr(path: string, name: string): Buffer {
  const size = check(lgetxattr(path, name, null, 0), 'lgetxattr', path);
  const data = Buffer.alloc(size);
  return data.subarray(0, check(lgetxattr(path, name, data, size), 'lgetxattr', path));
}

export function listXattrs(path: string): string[] {
  const size = check(llistxattr(path, null, 0), 'llistxattr', path);
  const data = Buffer.alloc(size);
  const used = check(llistxattr(path, data, size), 'llistxattr', path);
  return data.subarray(0, used).toString('utf8').split('\0').filter(Boolean).sort();
}
