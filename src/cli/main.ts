import { runAsync } from './run';

// runAsync: most commands finish synchronously inside it; serve and pull wait on the network.
runAsync(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
