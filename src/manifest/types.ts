// The manifest as Pycom's server sends it and Pycom's client reads it. Field names are theirs
// (`URL`, `dst_path`, `hash` = SHA-1 hex); `sha256` and `size` are ours, ignored by their client.

export interface ManifestFileEntry {
  /** `http://<host>/<version>/<path>`; clients fetch its path from the server they asked. */
  URL: string;
  /** Where the file goes on the device: `/flash/lib/a.py` (Pycom's server) or `flash/lib/a.py` (Pycom's docs). */
  dst_path: string;
  /** SHA-1 of the file, lower-case hex. */
  hash: string;
  sha256?: string;
  size?: number;
}

export interface ManifestFirmware {
  URL: string;
  hash: string;
  sha256?: string;
  size?: number;
}

export interface Manifest {
  /** Paths without a leading slash (`flash/old.py`), moved aside to `PATH.bak_del`. */
  delete: string[];
  new: ManifestFileEntry[];
  update: ManifestFileEntry[];
  /** The version the device is at once the manifest is applied; written to flash/OTA_VERSION.py. */
  version: string;
  firmware?: ManifestFirmware;
  /** The `current_ver` this manifest was made for (ours; Pycom's comments name it, its server never sent it). */
  previous_version?: string;
}

/** One file of a version folder, by its path inside the folder (`flash/lib/a.py`). */
export interface TreeFile {
  path: string;
  size: number;
  /** Lower-case hex. */
  sha1: string;
  sha256?: string;
}

export type FileTree = readonly TreeFile[];

/** A `firmware_<version>.bin` file at the top of the server directory. */
export interface FirmwareFile {
  /** The file name (`firmware_1.0.1.bin`), which is also its URL path. */
  name: string;
  version: string;
  size: number;
  sha1: string;
  sha256?: string;
}
