// The image store: images with metadata and a chunk bitmap on any block device, installed through the OTA engine.
export { ImageStore, ImageHashJob, type ImageStoreOptions, type CreateOptions, type StoreSpace, type Reservation } from './store';
export { installImage, type InstallOptions, type InstallResult } from './install';
export { StoreDownload, type StepBudget, type DownloadOptions, type DownloadPhase, type DownloadStatus, type OfferResult } from './download';
export { STORE_MAGIC, STORE_LAYOUT_VERSION, extentLayout, type ExtentLayout } from './layout';
export { IMAGE_KIND_CODES, type ImageKind, type ImageState, type CreateImageOptions, type StoredImage } from './types';
