import { describe, expect, it } from 'vitest';
import { familiarReference, formatReference, parseReference, registryApiHost } from '../src/index.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('parseReference normalises as Docker does', () => {
  it.each([
    ['ubuntu', 'docker.io/library/ubuntu:latest'],
    ['ubuntu:22.04', 'docker.io/library/ubuntu:22.04'],
    ['library/ubuntu', 'docker.io/library/ubuntu:latest'],
    ['user/app', 'docker.io/user/app:latest'],
    ['docker.io/ubuntu', 'docker.io/library/ubuntu:latest'],
    ['index.docker.io/library/ubuntu:1', 'docker.io/library/ubuntu:1'],
    ['index.docker.io/user/app', 'docker.io/user/app:latest'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/a/b:t', 'localhost:5000/a/b:t'],
    [`localhost:5000/a/b:t@${DIGEST}`, `localhost:5000/a/b:t@${DIGEST}`],
    [`ubuntu@${DIGEST}`, `docker.io/library/ubuntu@${DIGEST}`],
    ['quay.io/coreos/etcd:v3.5.0', 'quay.io/coreos/etcd:v3.5.0'],
    ['127.0.0.1:5000/x', '127.0.0.1:5000/x:latest'],
    ['[::1]:5000/x:y', '[::1]:5000/x:y'],
    ['my-registry.example.com/a__b/c-d.e:Tag_1.0', 'my-registry.example.com/a__b/c-d.e:Tag_1.0'],
    // no "/": a ":" is a tag, so this is an image named localhost on Docker Hub, as in Docker
    ['localhost:5000', 'docker.io/library/localhost:5000'],
    ['Registry.Example.com/app', 'Registry.Example.com/app:latest'],
  ])('%s → %s', (input, expected) => {
    expect(formatReference(parseReference(input))).toBe(expected);
  });

  it('splits domain, path, tag and digest', () => {
    expect(parseReference(`localhost:5000/a/b:t@${DIGEST}`)).toEqual({ domain: 'localhost:5000', path: 'a/b', tag: 't', digest: DIGEST });
    expect(parseReference(`busybox@${DIGEST}`)).toEqual({ domain: 'docker.io', path: 'library/busybox', digest: DIGEST });
  });

  it('gives the familiar short form back', () => {
    expect(familiarReference(parseReference('docker.io/library/ubuntu'))).toBe('ubuntu:latest');
    expect(familiarReference(parseReference('user/app:1'))).toBe('user/app:1');
    expect(familiarReference(parseReference('localhost:5000/a:t'))).toBe('localhost:5000/a:t');
  });

  it('maps docker.io to the host that serves its API', () => {
    expect(registryApiHost('docker.io')).toBe('registry-1.docker.io');
    expect(registryApiHost('localhost:5000')).toBe('localhost:5000');
  });
});

describe('parseReference rejects malformed references with the reason', () => {
  it.each([
    ['', /empty/],
    ['Ubuntu', /must be lowercase/],
    ['docker.io/Library/ubuntu', /must be lowercase/],
    ['ubuntu:', /tag "" must be/],
    ['ubuntu:-x', /tag "-x"/],
    [`ubuntu:${'a'.repeat(129)}`, /1-128 characters/],
    ['a//b', /empty path component/],
    ['a/b/', /empty path component/],
    ['a/-b', /path component "-b"/],
    ['a/b_-c', /path component "b_-c"/],
    ['ubuntu@sha256:abc', /64 lowercase hex/],
    ['ubuntu@md5:0123', /unsupported digest algorithm "md5"/],
    ['ubuntu@', /not a digest/],
    ['a b', /whitespace/],
    ['a'.repeat(64).replace(/a/g, 'f'), /image id, not a reference/],
    ['-bad.example.com/x', /registry host "-bad.example.com"/],
    [`example.com/${'a'.repeat(250)}`, /longer than 255/],
    [':tag', /no repository name/],
  ])('%j', (input, why) => {
    expect(() => parseReference(input)).toThrow(why);
    expect(() => parseReference(input)).toThrow(/^invalid reference /);
  });
});
