// Entry point of the `xetcd` command (bin/xetcd.js loads it through tsx).
import { runCli } from './run.js';

const code = await runCli(process.argv.slice(2));
// Output to a pipe is queued once the pipe is full (`xetcd machines export | ...`):
// an empty write's callback runs after everything written before it has gone.
// A reader that left early (`| head`) fails the write: it wants no more, which is no error of ours.
await new Promise<void>((resolve) => {
  process.stdout.once('error', () => resolve());
  process.stdout.write('', () => resolve());
});
// Logs are written synchronously, so nothing is lost by exiting right away; exiting
// also ends any handle a part forgot to close instead of hanging after "stopped".
process.exit(code);
