import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildManifest, selectUpdate } from '../manifest/generate';
import { pythonJsonDumps, type JsonValue } from '../manifest/python-json';
import { FileInfoCache } from '../server/file-info';
import { firmwareFile, listRoot, walkFolder } from '../server/server-tree';
import { checkHostHeader } from '../server/request-path';
import { CliError, type CliIo, type Command, parseArgs } from './io';
import { signManifestValue } from '../manifest/signature';
import { readKeyFiles, signDetached } from '../node/detached-sign';

const SPEC = { values: ['from', 'host'], booleans: ['pycom'], repeat: ['sign'] };

export const manifestCommand: Command = {
  summary: 'print the manifest a device on a version gets from a directory of versions',
  help: `Usage: otaflash manifest DIR [--from VERSION] [--host HOST[:PORT]] [--pycom] [--sign KEY.pem ...]

Prints, byte for byte, the manifest 'otaflash serve DIR' sends a device on --from (without
--from: a full install of the newest version, as Pycom's server answers a request without
current_ver). 'null' when the device needs nothing.

  --from V      the device's current version
  --host H      host (and port) in the URLs (default 127.0.0.1:8000, what the Host header would say)
  --pycom       exactly Pycom's fields (no sha256, size, previous_version)
  --sign KEY    add a "signature" field made with this private key (repeat for up to 3), as
                'otaflash serve --sign' does`,
  run(argv) {
    // Options are checked as by every command (a typo is named); running needs runAsync.
    parseArgs(argv, SPEC);
    throw new CliError('manifest needs the asynchronous entry (otaflash from the shell)');
  },
  async runAsync(argv: string[], io: CliIo) {
    const args = parseArgs(argv, SPEC);
    if (args.positional.length !== 1) throw new CliError('expected one DIR (the directory of version folders)');
    const dir = args.positional[0];
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new CliError(`'${dir}' is not a directory`);
    const root = fs.realpathSync(path.resolve(dir));
    const host = checkHostHeader(args.flags.host !== undefined ? String(args.flags.host) : '127.0.0.1:8000');
    const currentVersion = args.flags.from !== undefined ? String(args.flags.from) : null;
    const cache = new FileInfoCache({ keepBytesUpTo: 0 });
    const listing = await listRoot(root);
    const selection = selectUpdate({ folders: listing.folders, firmware: listing.firmware.map((f) => f.version), currentVersion });
    let value: JsonValue = null;
    if (selection !== null) {
      const fw = listing.firmware.filter((f) => f.version === selection.firmware)[0];
      value = buildManifest({
        selection,
        fromTree: selection.from !== null ? await walkFolder(root, selection.from, cache) : null,
        targetTree: selection.target !== null ? await walkFolder(root, selection.target, cache) : null,
        firmware: fw !== undefined ? await firmwareFile(fw, cache) : null,
        baseUrl: 'http://' + host,
        currentVersion,
        extras: args.flags.pycom !== true,
      }) as unknown as JsonValue;
    }
    if (value !== null && args.lists.sign) {
      const keys = readKeyFiles(args.lists.sign);
      value = signManifestValue(value, (bytes) => signDetached(bytes, keys)) as JsonValue;
    }
    io.stdout(pythonJsonDumps(value) + '\n');
    return 0;
  },
};
