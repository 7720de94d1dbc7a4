import type { Command } from './io';
import { demoCommand } from './demo';
import { partitionTableConvertCommand, partitionTableShowCommand } from './partition-table';
import { otadataShowCommand } from './otadata';
import { flashCreateCommand } from './flash';
import { partitionEraseCommand, partitionReadCommand, partitionWriteCommand } from './partition';
import { inspectCommand } from './inspect';
import { imageInfoCommand } from './image';
import { imageSignCommand, imageVerifyCommand, keyDigestCommand, keyGenerateCommand } from './signature';
import { bootCommand, confirmCommand, otadataEraseCommand, otadataSwitchCommand, rollbackCommand, updateCommand } from './update';
import { proveCommand } from './prove';
import { serveCommand } from './serve';
import { manifestCommand } from './manifest';
import { pullCommand } from './pull';
import { deltaCreateCommand } from './delta-create';
import { deltaApplyCommand, deltaApplyFileCommand, deltaInfoCommand } from './delta';
import { deltaPackageCommand, deltaSignCommand, deltaVerifyCommand } from './delta-package';
import { scratchpadCreateCommand, scratchpadInfoCommand, scratchpadProcessCommand } from './scratchpad';
import { storeAddCommand, storeInstallCommand, storeListCommand, storeRemoveCommand } from './store';
import { fleetSimCommand } from './fleet-sim';
import { meshSimCommand } from './mesh-sim';
import { planActivateCommand, planCreateCommand, planSignCommand, planStatusCommand } from './plan';

/**
 * Every CLI command, by its full name ("partition-table convert"). Each lives in its own module
 * under src/cli/ and is registered here.
 */
export const commands: Record<string, Command> = {
  demo: demoCommand,
  'partition-table convert': partitionTableConvertCommand,
  'partition-table show': partitionTableShowCommand,
  'otadata show': otadataShowCommand,
  'flash create': flashCreateCommand,
  'partition read': partitionReadCommand,
  'partition write': partitionWriteCommand,
  'partition erase': partitionEraseCommand,
  inspect: inspectCommand,
  'image info': imageInfoCommand,
  'image sign': imageSignCommand,
  'image verify': imageVerifyCommand,
  'key digest': keyDigestCommand,
  'key generate': keyGenerateCommand,
  update: updateCommand,
  boot: bootCommand,
  confirm: confirmCommand,
  rollback: rollbackCommand,
  'otadata switch': otadataSwitchCommand,
  'otadata erase': otadataEraseCommand,
  prove: proveCommand,
  serve: serveCommand,
  manifest: manifestCommand,
  pull: pullCommand,
  'delta create': deltaCreateCommand,
  'delta apply': deltaApplyCommand,
  'delta apply-file': deltaApplyFileCommand,
  'delta info': deltaInfoCommand,
  'delta package': deltaPackageCommand,
  'delta sign': deltaSignCommand,
  'delta verify': deltaVerifyCommand,
  'scratchpad info': scratchpadInfoCommand,
  'scratchpad process': scratchpadProcessCommand,
  'scratchpad create': scratchpadCreateCommand,
  'store list': storeListCommand,
  'store add': storeAddCommand,
  'store remove': storeRemoveCommand,
  'store install': storeInstallCommand,
  'fleet-sim': fleetSimCommand,
  'mesh-sim': meshSimCommand,
  'plan create': planCreateCommand,
  'plan sign': planSignCommand,
  'plan activate': planActivateCommand,
  'plan status': planStatusCommand,
};
