// Finds the server layer at run time, so a build without it still starts far
// enough to say clearly why it cannot serve (the member fails, exit 1), and so
// src/embed does not import src/server statically while both are being built.
//
// Two shapes are recognised, first match wins:
//  1. src/embed/steps.ts exporting `memberSteps(config, logger, state)` and
//     `memberMetrics(config)`: complete lifecycle steps (storage, Raft, client port).
//  2. src/server/member.ts exporting `createMemberServer: MemberServerFactory`:
//     the server part only; src/embed/etcd.ts adds the client port around it.
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { MemberServerFactory } from './etcd.js';
import type { MemberSteps } from './member.js';

export type StepsFactory = (config: Config, logger: Logger) => MemberSteps;

export type ServerLayer =
  | { readonly kind: 'steps'; readonly factory: StepsFactory }
  | { readonly kind: 'server'; readonly factory: MemberServerFactory };

function isMissing(err: unknown, file: RegExp): boolean {
  const e = err as { code?: string; message?: string };
  return (
    (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') &&
    typeof e.message === 'string' &&
    file.test(e.message.split('\n')[0] ?? '')
  );
}

/** The module's exports, or undefined when the module itself does not exist. */
async function tryImport(specifier: string, file: RegExp): Promise<Record<string, unknown> | undefined> {
  try {
    return (await import(new URL(specifier, import.meta.url).href)) as Record<string, unknown>;
  } catch (err) {
    // Only the module's own absence means "not there"; an error inside it is a real failure.
    if (isMissing(err, file)) return undefined;
    throw err;
  }
}

type MemberStepsFn = (config: Config, logger: Logger, state: { metrics: unknown }) => MemberSteps;

export async function loadServerLayer(): Promise<ServerLayer | undefined> {
  const steps = await tryImport('./steps.js', /embed[\\/]steps\.(js|ts)/);
  if (steps !== undefined) {
    const memberSteps = steps['memberSteps'];
    const memberMetrics = steps['memberMetrics'];
    if (typeof memberSteps !== 'function' || typeof memberMetrics !== 'function') {
      throw new Error(
        'src/embed/steps.ts must export memberSteps(config, logger, state) and memberMetrics(config)',
      );
    }
    return {
      kind: 'steps',
      factory: (config, logger) =>
        (memberSteps as MemberStepsFn)(config, logger, {
          metrics: (memberMetrics as (c: Config) => unknown)(config),
        }),
    };
  }
  const server = await tryImport('../server/member.js', /server[\\/]member\.(js|ts)/);
  if (server !== undefined) {
    const factory = server['createMemberServer'];
    if (typeof factory !== 'function')
      throw new Error('src/server/member.ts does not export a createMemberServer function');
    return { kind: 'server', factory: factory as MemberServerFactory };
  }
  return undefined;
}
