import type { Command } from './io';
import { demoCommand } from './demo';
import { partitionTableConvertCommand, partitionTableShowCommand } from './partition-table';
import { otadataShowCommand } from './otadata';

/**
 * Every CLI command, by its full name ("partition-table convert"). Each lives in its own module
 * under src/cli/ and is registered here.
 */
export const commands: Record<string, Command> = {
  demo: demoCommand,
  'partition-table convert': partitionTableConvertCommand,
  'partition-table show': partitionTableShowCommand,
  'otadata show': otadataShowCommand,
};
