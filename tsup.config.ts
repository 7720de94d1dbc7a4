import { defineConfig } from 'tsup';

// Three outputs: the library (portable core + Node adapters) as ESM/CJS with types, the CLI as one
// ESM file, and the device bundles (dist/device/: whole and slim, ES2015 and ES5, add-ons, polyfills),
// which scripts/build-device.mjs makes once the library build (which cleans dist/) has finished.
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
    onSuccess: async () => {
      // not a static import: the bundled config would carry the script and lose its own location
      const script = new URL('./scripts/build-device.mjs', import.meta.url).href;
      const { buildDevice } = (await import(script)) as { buildDevice: (o: { quiet: boolean }) => Promise<unknown> };
      await buildDevice({ quiet: true });
    },
  },
  {
    entry: { 'cli/main': 'src/cli/main.ts' },
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    banner: { js: '#!/usr/bin/env node' },
    outDir: 'dist',
  },
]);
