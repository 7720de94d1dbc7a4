import { defineConfig } from 'tsup';

// Three outputs: the library (portable core + Node adapters) as ESM/CJS with types,
// the CLI as one ESM file, and the device bundle as an ES2015 IIFE with everything inlined.
export default defineConfig([
  {
    entry: { index: 'src/index.ts', 'node/index': 'src/node/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    target: 'es2015',
    platform: 'neutral',
    external: [/^node:/],
    sourcemap: false,
    clean: true,
    splitting: true,
    outDir: 'dist',
  },
  {
    entry: { 'cli/main': 'src/cli/main.ts' },
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    banner: { js: '#!/usr/bin/env node' },
    outDir: 'dist',
  },
  {
    entry: { 'device/otaflash': 'src/device.ts' },
    format: ['iife'],
    globalName: 'OtaFlash',
    target: 'es2015',
    platform: 'browser',
    noExternal: [/.*/],
    outExtension: () => ({ js: '.js' }),
    outDir: 'dist',
  },
  {
    entry: { 'device/otaflash.min': 'src/device.ts' },
    format: ['iife'],
    globalName: 'OtaFlash',
    target: 'es2015',
    platform: 'browser',
    noExternal: [/.*/],
    minify: true,
    outExtension: () => ({ js: '.js' }),
    outDir: 'dist',
  },
]);
