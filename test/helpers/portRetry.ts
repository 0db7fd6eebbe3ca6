// Free ports are found by binding port 0 and releasing it, so another process (eight sessions
// share this machine) can take one before the server binds it. A server that fails to start
// because its address is in use is started again on new ports, unless the caller chose them.
import { ProcessError } from './process.js';

const ADDRESS_IN_USE = /address already in use|EADDRINUSE/i;

export async function retryOnPortClash<T>(
  portsChosenByCaller: boolean,
  start: () => Promise<T>,
  attempts = 3,
): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await start();
    } catch (err) {
      const clash = err instanceof ProcessError && ADDRESS_IN_USE.test(err.outputTail);
      if (!clash || portsChosenByCaller || i >= attempts) throw err;
    }
  }
}
