/**
 * The device update agent's vocabulary: plans, strategies, the messages it exchanges with the plan
 * service, and the events it is fed and actions it returns (the sans-I/O contract).
 */

/** What a component is: the module's own firmware (the OTA engine), an external MCU's, or a file set. */
export type ComponentKind = 'module' | 'mcu' | 'files';

export interface PackageRef {
  /** 'full': the whole target image; 'delta': a patch from `source` to `target`. */
  readonly kind: 'full' | 'delta';
  readonly size: number;
  /** Lower-case hex SHA-256 of the package bytes. */
  readonly sha256: string;
}

export interface PlanComponent {
  readonly id: string;
  readonly kind: ComponentKind;
  /** The version the device must run for this plan to apply ('' or '*': any). */
  readonly source: string;
  readonly target: string;
  readonly package: PackageRef;
}

export interface Strategy {
  /** silent: proceed; ask: the application must permit first; forced: proceed even when the app defers. */
  readonly mode: 'silent' | 'ask' | 'forced';
  /** Percent; below it the agent waits and re-checks. */
  readonly minBattery?: number;
  /** dBm (e.g. -90); below it the agent waits and re-checks. */
  readonly minSignal?: number;
  /** Download attempts after the first failure, per component. Default 3. */
  readonly retries?: number;
  /** First retry delay in ms, doubled each time. Default 5000. */
  readonly backoffMs?: number;
  /** Minutes of the UTC day [from, to) in which the update may run; none: any time. */
  readonly windows?: readonly (readonly [number, number])[];
}

export interface Plan {
  readonly id: string;
  /** Downloaded and installed in this order. */
  readonly components: readonly PlanComponent[];
  readonly strategy: Strategy;
  /** The operator's signature and what it covers, when the plan was signed (docs/plans.md, "Signed plans"). */
  readonly signed?: PlanSignature;
}

/** A package as a signed plan names it: the bytes the device will accept for it. */
export interface SignedPackage {
  readonly size: number;
  /** Lower-case hex SHA-256 of the package bytes. */
  readonly sha256: string;
}

export interface PlanStatementComponent {
  readonly id: string;
  readonly kind: ComponentKind;
  readonly source: string;
  readonly target: string;
  readonly full?: SignedPackage;
  /** A delta package per source version. */
  readonly deltas?: { readonly [sourceVersion: string]: SignedPackage };
}

/**
 * What an operator signs: every part of a plan a device acts on (the components with their
 * versions and package digests for every source version, and the strategy), but not what only the
 * server acts on (name, order, scope, package ids, URLs). Signed as canonical JSON
 * (src/formats/canonical-json.ts).
 */
export interface PlanStatement {
  /** 'otaflash-plan/1': keeps a plan signature from passing for any other signed JSON. */
  readonly format: string;
  readonly id: string;
  readonly components: readonly PlanStatementComponent[];
  readonly strategy: Strategy;
}

export interface PlanSignature {
  readonly statement: PlanStatement;
  /** Base64 of 1-3 Secure Boot V2 signature blocks over the statement's canonical bytes. */
  readonly signature: string;
}

/** Device -> service. */
export type AgentMessage =
  | { type: 'check'; deviceId: string; versions: { [component: string]: string }; battery?: number; signal?: number }
  | { type: 'confirm'; deviceId: string; planId: string; accept: boolean; reason?: string; error?: string }
  | { type: 'progress'; deviceId: string; planId: string; component: string; bytes: number; total: number; percent: number }
  | { type: 'report'; deviceId: string; planId: string; component: string; state: 'succeeded' | 'failed'; version?: string; error?: string };

/** Service -> device, the answers the agent understands. */
export type ServiceMessage =
  | { type: 'none'; nextCheckMs?: number }
  | { type: 'plan'; plan: Plan }
  | { type: 'urls'; urls: { [component: string]: string } }
  | { type: 'cancelled'; reason?: string }
  | { type: 'ack' };

/** What the agent is fed. `now` is milliseconds of the caller's clock (UTC epoch for windows). */
export type AgentEvent =
  | { type: 'start'; now: number; versions: { [component: string]: string }; selfTestPassed?: boolean }
  | { type: 'tick'; now: number }
  | { type: 'check-now'; now: number }
  | { type: 'readings'; now: number; battery?: number; signal?: number }
  | { type: 'response'; now: number; id: number; message: ServiceMessage }
  | { type: 'request-failed'; now: number; id: number; error: string }
  | { type: 'data'; now: number; id: number; bytes: Uint8Array }
  | { type: 'fetch-done'; now: number; id: number }
  | { type: 'permit'; now: number; allow: boolean }
  | { type: 'activate'; now: number };

/** What the agent asks its host to do. */
export type AgentAction =
  | { type: 'send'; id: number; message: AgentMessage }
  | { type: 'fetch'; id: number; url: string; from: number }
  | { type: 'wake-at'; at: number }
  | { type: 'ask-permission'; planId: string; components: string[] }
  | { type: 'ready-to-switch'; planId: string }
  | { type: 'reboot' }
  | { type: 'log'; text: string };

/**
 * How a component's package reaches its destination. Synchronous, like the block devices under it.
 * `resumeOffset` is what a power cut left safely written, so a download continues from there.
 */
export interface ComponentInstaller {
  resumeOffset(c: PlanComponent): number;
  begin(c: PlanComponent, from: number): void;
  write(c: PlanComponent, bytes: Uint8Array): void;
  /** All bytes are in: verify them (throws OtaflashError when they do not verify). */
  finish(c: PlanComponent): void;
  /** Make the component take effect at the next boot. */
  activate(c: PlanComponent): void;
  /** After the reboot, the self-test passed: keep it (markValid). */
  confirm(c: PlanComponent): void;
  /** After the reboot, the self-test failed: go back (markInvalidAndRollback). */
  rollback(c: PlanComponent): void;
  /** Give up on a half-written component. */
  abort(c: PlanComponent): void;
}
