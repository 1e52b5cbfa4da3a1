/**
 * Container names as Docker makes them when --name is not given: an
 * adjective and a noun joined by "_" (Docker's lists are its own; these are
 * ours: what a container is often like, and birds).
 */
const ADJECTIVES = [
  'agile', 'bold', 'brave', 'bright', 'busy', 'calm', 'clever', 'cosy', 'eager', 'fancy', 'fond', 'gentle', 'happy',
  'hardy', 'humble', 'jolly', 'keen', 'kind', 'lively', 'lucid', 'merry', 'modest', 'nimble', 'patient', 'plucky',
  'proud', 'quick', 'quiet', 'sharp', 'shy', 'steady', 'swift', 'tidy', 'upbeat', 'vivid', 'wise', 'witty', 'zesty',
];
const NOUNS = [
  'albatross', 'avocet', 'bittern', 'bunting', 'buzzard', 'chough', 'curlew', 'dipper', 'dunlin', 'egret', 'fulmar',
  'gannet', 'godwit', 'goldcrest', 'grebe', 'heron', 'hoopoe', 'jackdaw', 'kestrel', 'kingfisher', 'kittiwake',
  'lapwing', 'linnet', 'merlin', 'nightjar', 'nuthatch', 'osprey', 'plover', 'puffin', 'redstart', 'shrike', 'siskin',
  'skylark', 'starling', 'swift', 'tern', 'treecreeper', 'wagtail', 'waxwing', 'wheatear', 'wren',
];

function pick<T>(list: readonly T[]): T {
  return list[Math.floor(Math.random() * list.length)]!;
}

/** A fresh name, not one of `taken` (Docker appends a digit on a clash; so does this). */
export function randomName(taken: Set<string>): string {
  const base = `${pick(ADJECTIVES)}_${pick(NOUNS)}`;
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}${n}`)) return `${base}${n}`;
}
