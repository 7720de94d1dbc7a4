/**
 * The agent's installer for 'module' components with full packages: the package is an app image,
 * streamed through the OTA engine into the next slot. The engine's resume log says how much is
 * safely on flash after a reset; the package's SHA-256 is checked over every byte, the resumed
 * prefix read back from the slot.
 */
import { OtaflashError } from '../errors';
import type { HashProvider, IncrementalHash } from '../hash/types';
import { defaultHashes } from '../hash/portable';
import { partitionRegion } from '../formats/partition-lookup';
import type { Partition } from '../formats/partition-types';
import type { OtaEngine } from '../ota/engine';
import type { OtaWriter } from '../ota/writer';
import type { ComponentInstaller, PlanComponent } from './types';

export interface OtaInstallerOptions {
  /** A fresh engine over the device (the agent keeps none across resets). */
  engine: () => OtaEngine;
  hashes?: HashProvider;
  /** Passed to begin()/resume(): erase budget per write call, for a watchdog. */
  maxEraseBytesPerStep?: number;
}

function hexOf(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
  return s;
}

export function otaModuleInstaller(opts: OtaInstallerOptions): ComponentInstaller {
  const hashes = opts.hashes ?? defaultHashes();
  let writer: OtaWriter | null = null;
  let hash: IncrementalHash | null = null;
  let staged: Partition | null = null;
  const budget = opts.maxEraseBytesPerStep !== undefined ? { maxEraseBytesPerStep: opts.maxEraseBytesPerStep } : {};

  const fullOnly = (c: PlanComponent) => {
    if (c.package.kind !== 'full') throw new OtaflashError('AGENT_PACKAGE_UNSUPPORTED', `component ${c.id}: this installer takes full images, not ${c.package.kind} packages`);
  };

  return {
    resumeOffset(c) {
      fullOnly(c);
      const p = opts.engine().pendingUpdate();
      return p && p.size === c.package.size ? p.written : 0;
    },
    begin(c, from) {
      fullOnly(c);
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
      if (!writer || !hash) throw new OtaflashError('AGENT_INSTALLER_STATE', `component ${c.id}: write before begin`);
      writer.write(bytes);
      hash.update(bytes);
    },
    finish(c) {
      if (!writer || !hash) throw new OtaflashError('AGENT_INSTALLER_STATE', `component ${c.id}: finish before begin`);
      const got = hexOf(hash.digest());
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
      if (writer && writer.isOpen) writer.abort();
      writer = null;
      hash = null;
    },
  };
}
