export { blobCompression, compress, decompress, parallelGzip } from './compression.ts';
export { extractLayer, LayerError, safeComponents, type ExtractOptions, type ExtractStats } from './extract.ts';
export { layerPath, removeLayer, unpackLayer, type UnpackResult } from './unpack.ts';
export { createLayerTar, type CreateOptions, type CreateStats, type LayerSource } from './create.ts';
