// Add-on of the slim device build (dist/device/otaflash-store.js, after otaflash-core.js): the image
// store (several images on one block device, chunk by chunk, resumable) and installing from it.
export { ImageStore, installImage, StoreDownload } from './store/index';
