import type { Command } from './io';

export const demoCommand: Command = {
  summary: 'create a flash image, lay out a partition table, run an update, print what happened',
  help: 'Usage: otaflash demo [--dir DIR]\n\nA guided tour: writes demo files into DIR (default: a temporary folder).',
  run(_argv, io) {
    io.stdout('otaflash demo: the OTA engine is not built yet.\n');
    return 0;
  },
};
