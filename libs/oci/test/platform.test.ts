import { describe, expect, it } from 'vitest';
import { formatPlatform, hostPlatform, MediaType, parsePlatform, selectPlatform, type Descriptor, type ImageIndex } from '../src/index.ts';

const entry = (platform: Descriptor['platform'], c: string, annotations?: Record<string, string>): Descriptor => ({
  mediaType: MediaType.ociManifest,
  digest: `sha256:${c.repeat(64)}`,
  size: 1,
  ...(platform && { platform }),
  ...(annotations && { annotations }),
});

const index = (...manifests: Descriptor[]): ImageIndex => ({ schemaVersion: 2, manifests });

describe('platforms', () => {
  it.each([
    ['linux/amd64', 'linux/amd64'],
    ['linux/x86_64', 'linux/amd64'],
    ['linux/amd64/v1', 'linux/amd64'],
    ['linux/aarch64', 'linux/arm64'],
    ['linux/arm64/v8', 'linux/arm64'],
    ['linux/arm64/9', 'linux/arm64/v9'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/armhf', 'linux/arm/v7'],
    ['linux/armel', 'linux/arm/v6'],
    ['linux/arm/6', 'linux/arm/v6'],
    ['Linux/i386', 'linux/386'],
  ])('%s normalises to %s', (text, expected) => {
    expect(formatPlatform(parsePlatform(text))).toBe(expected);
  });

  it.each(['linux', 'linux/', 'a/b/c/d', 'linux/amd 64'])('rejects %j', (text) => {
    expect(() => parsePlatform(text)).toThrow(/invalid platform .* want OS\/ARCH\[\/VARIANT\]/);
  });

  it('knows the host platform', () => {
    expect(formatPlatform(hostPlatform())).toBe(process.arch === 'x64' ? 'linux/amd64' : formatPlatform(hostPlatform()));
    expect(hostPlatform().os).toBe('linux');
  });

  it('selects the matching manifest and skips attestations', () => {
    const idx = index(
      entry({ os: 'unknown', architecture: 'unknown' }, 'a', { 'vnd.docker.reference.type': 'attestation-manifest' }),
      entry({ os: 'linux', architecture: 'arm', variant: 'v6' }, 'b'),
      entry({ os: 'linux', architecture: 'arm', variant: 'v7' }, 'c'),
      entry({ os: 'linux', architecture: 'arm64', variant: 'v8' }, 'd'),
      entry({ os: 'linux', architecture: 'amd64' }, 'e'),
    );
    expect(selectPlatform(idx, parsePlatform('linux/amd64')).digest).toBe(`sha256:${'e'.repeat(64)}`);
    expect(selectPlatform(idx, parsePlatform('linux/arm64')).digest).toBe(`sha256:${'d'.repeat(64)}`);
    expect(selectPlatform(idx, parsePlatform('linux/arm/v7')).digest).toBe(`sha256:${'c'.repeat(64)}`);
    expect(selectPlatform(idx, parsePlatform('linux/arm/v6')).digest).toBe(`sha256:${'b'.repeat(64)}`);
  });

  it('lets an arm/v7 host fall back to a v6 image, but not a v6 host run v7', () => {
    const idx = index(entry({ os: 'linux', architecture: 'arm', variant: 'v6' }, 'b'));
    expect(selectPlatform(idx, parsePlatform('linux/arm/v7')).digest).toBe(`sha256:${'b'.repeat(64)}`);
    const v7only = index(entry({ os: 'linux', architecture: 'arm', variant: 'v7' }, 'c'));
    expect(() => selectPlatform(v7only, parsePlatform('linux/arm/v6'))).toThrow(/no image for linux\/arm\/v6; the image has linux\/arm\/v7/);
  });

  it('says which platforms an image has when none matches', () => {
    const idx = index(entry({ os: 'linux', architecture: 's390x' }, 'a'), entry({ os: 'windows', architecture: 'amd64', 'os.version': '10.0' }, 'b'), entry({ os: 'unknown', architecture: 'unknown' }, 'c'));
    expect(() => selectPlatform(idx, parsePlatform('linux/amd64'))).toThrow('no image for linux/amd64; the image has linux/s390x, windows/amd64');
  });
});
