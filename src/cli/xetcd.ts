// Entry point of the `xetcd` command (bin/xetcd.js loads it through tsx).
import { runCli } from './run.js';

const code = await runCli(process.argv.slice(2));
// Logs are written synchronously, so nothing is lost by exiting right away; exiting
// also ends any handle a part forgot to close instead of hanging after "stopped".
process.exit(code);
