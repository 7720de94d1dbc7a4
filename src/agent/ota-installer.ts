/**
 * The agent's installer for 'module' components: a full package is an app image streamed through
 * the OTA engine into the next slot; a delta package is a detools patch applied from the running
 * slot through the same engine (DeltaUpdate). The engine's resume log says how much is safely on
 * flash after a reset: a full download continues there (the prefix read back from the slot for the
 * package hash); a delta is fetched again from its first byte (patches are small) and the bytes
 * already on flash are compared instead of written. The package's SHA-256 is checked either way.
 */
import { OtaflashError } from '../errors';
import type { HashProvider, IncrementalHash } from '../hash/types';
import { defaultHashes } from '../hash/portable';
import { partitionRegion } from '../formats/partition-lookup';
import type { Partition } from '../formats/partition-types';
import type { OtaEngine } from '../ota/engine';
import type { OtaWriter } from '../ota/writer';
import { DeltaUpdate } from '../delta/ota';
import { DeltaPackageUpdate } from '../delta/package-update';
import type { SignatureTrust, SignatureVerifier } from '../formats/secure-boot-verify';
import type { ComponentInstaller, PlanComponent } from './types';
import { toHex } from '../formats/bytes';

export interface OtaInstallerOptions {
  /** A fresh engine over the device (the agent keeps none across resets). */
  engine: () => OtaEngine;
  hashes?: HashProvider;
  /** Passed to begin()/resume(): erase budget per write call, for a watchdog. */
  maxEraseBytesPerStep?: number;
  /** Refuse delta patches whose LZMA dictionary is larger (bytes): the device's RAM budget. */
  maxDictionary?: number;
  /**
   * Keys this device trusts: a 'delta' component must then be a delta package signed by one of them
   * (docs/delta.md "Signed packages"), refused before anything is erased when it is not.
   */
  trust?: SignatureTrust;
  /** Public-key operations for `trust` (default: the portable verifier). */
  verifier?: SignatureVerifier;
}

export function otaModuleInstaller(opts: OtaInstallerOptions): ComponentInstaller {
  const hashes = opts.hashes ?? defaultHashes();
  let writer: OtaWriter | null = null;
  let delta: DeltaUpdate | DeltaPackageUpdate | null = null;
  let hash: IncrementalHash | null = null;
  let staged: Partition | null = null;
  const budget = opts.maxEraseBytesPerStep !== undefined ? { maxEraseBytesPerStep: opts.maxEraseBytesPerStep } : {};

  const known = (c: PlanComponent) => {
    if (c.package.kind !== 'full' && c.package.kind !== 'delta') throw new OtaflashError('AGENT_PACKAGE_UNSUPPORTED', `component ${c.id}: unknown package kind '${String(c.package.kind)}'`);
  };

  return {
    resumeOffset(c) {
      known(c);
      if (c.package.kind === 'delta') return 0;
      const p = opts.engine().pendingUpdate();
      return p && p.size === c.package.size ? p.written : 0;
    },
    begin(c, from) {
      known(c);
      if (c.package.kind === 'delta') {
        if (delta) delta.abort();
        delta = null;
        if (writer && writer.isOpen) writer.abort();
        writer = null;
        const e = opts.engine();
        hash = hashes.sha256();
        // An interrupted apply of this patch continues (bytes on flash are compared, not rewritten).
        const resume = e.pendingUpdate() !== null;
        delta = opts.trust
          ? new DeltaPackageUpdate(e, { resume, maxDictionary: opts.maxDictionary, trust: opts.trust, verifier: opts.verifier, hashes })
          : new DeltaUpdate(e, { resume, maxDictionary: opts.maxDictionary });
        return;
      }
      // A writer left open by a download that failed in this boot: when resuming, its checkpoints on
      // flash are what resume() continues from, and abort() would erase them (a retry from 0).
      if (writer && writer.isOpen && from === 0) writer.abort();
      writer = null;
      const e = opts.engine();
      hash = hashes.sha256();
      if (from > 0) {
        writer = e.resume(budget);
        if (writer.offset !== from) throw new OtaflashError('AGENT_RESUME_MISMATCH', `component ${c.id}: the engine resumes at ${writer.offset}, not ${from}`);
        // The prefix on flash is part of the package: hash it from the slot.
        const region = partitionRegion(e.device, writer.partition);
        const buf = new Uint8Array(4096);
        for (let at = 0; at < from; at += buf.length) {
          const n = Math.min(buf.length, from - at);
          const part = n === buf.length ? buf : buf.subarray(0, n);
          region.read(at, part);
          hash.update(part);
        }
      } else {
        const opt: { size: number; maxEraseBytesPerStep?: number } = { size: c.package.size };
        if (opts.maxEraseBytesPerStep !== undefined) opt.maxEraseBytesPerStep = opts.maxEraseBytesPerStep;
        writer = e.begin(undefined, opt);
      }
    },
    write(c, bytes) {
      if (delta && hash) {
        delta.push(bytes);
        hash.update(bytes);
        return;
      }
      if (!writer || !hash) throw new OtaflashError('AGENT_INSTALLER_STATE', `component ${c.id}: write before begin`);
      writer.write(bytes);
      hash.update(bytes);
    },
    finish(c) {
      if (delta && hash) {
        const got = toHex(hash.digest());
        if (got !== c.package.sha256) {
          delta.abort();
          delta = null;
          throw new OtaflashError('IMAGE_PACKAGE_HASH', `component ${c.id}: the package's SHA-256 is ${got}, the plan says ${c.package.sha256}`);
        }
        delta.finish();
        staged = delta.partition ?? null;
        delta = null;
        return;
      }
      if (!writer || !hash) throw new OtaflashError('AGENT_INSTALLER_STATE', `component ${c.id}: finish before begin`);
      const got = toHex(hash.digest());
      if (got !== c.package.sha256) {
        writer.abort();
        writer = null;
        throw new OtaflashError('IMAGE_PACKAGE_HASH', `component ${c.id}: the package's SHA-256 is ${got}, the plan says ${c.package.sha256}`);
      }
      writer.end();
      staged = writer.partition;
      writer = null;
    },
    activate(c) {
      const e = opts.engine();
      const target = staged ?? e.nextUpdatePartition();
      // Already selected (a reset between selecting and recording it): selecting again is harmless,
      // but selecting the app that is running now would be wrong.
      if (e.running && e.running.offset === target.offset) return;
      e.setBootPartition(target, { verify: staged === null });
    },
    confirm() {
      opts.engine().markValid();
    },
    rollback() {
      opts.engine().markInvalidAndRollback();
    },
    abort() {
      if (delta) delta.abort();
      delta = null;
      if (writer && writer.isOpen) writer.abort();
      writer = null;
      hash = null;
    },
  };
}
