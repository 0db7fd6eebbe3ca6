// Finds the server layer at run time: src/server/member.ts exporting
// `createMemberServer: MemberServerFactory` (see MemberServer in etcd.ts).
// Looking it up lazily keeps src/embed free of a static dependency on
// src/server, and a build without it still starts far enough to say clearly
// why it cannot serve (the member fails in openingStorage, exit 1).
import type { MemberServerFactory } from './etcd.js';

const SERVER_MODULE = '../server/member.js';

function isMissingServerModule(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return (
    (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') &&
    typeof e.message === 'string' &&
    /server[\\/]member\.(js|ts)/.test(e.message.split('\n')[0] ?? '')
  );
}

export async function loadMemberServerFactory(): Promise<MemberServerFactory | undefined> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(new URL(SERVER_MODULE, import.meta.url).href)) as Record<string, unknown>;
  } catch (err) {
    // Only the module's own absence means "no server layer"; an error inside it is a real failure.
    if (isMissingServerModule(err)) return undefined;
    throw err;
  }
  const factory = mod['createMemberServer'];
  if (typeof factory !== 'function')
    throw new Error('src/server/member.ts does not export a createMemberServer function');
  return factory as MemberServerFactory;
}
