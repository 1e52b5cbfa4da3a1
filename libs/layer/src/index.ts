export { blobCompression, decompress } from './decompress.ts';
export { extractLayer, LayerError, safeComponents, type ExtractOptions, type ExtractStats } from './extract.ts';
export { layerPath, unpackLayer, type UnpackResult } from './unpack.ts';
