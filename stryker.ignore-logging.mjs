// A Stryker ignorer (stryker.config.json): mutants inside a call to the Raft
// logger (`this.logger.info(...)`, `context.raft.logger.debug(...)`) change
// only what is logged, which no test should pin down.
import { declareValuePlugin, PluginKind } from '@stryker-mutator/api/plugin';

const LEVELS = new Set(['debug', 'info', 'warn', 'error']);

function isLoggerCall(node) {
  if (node.type !== 'CallExpression' || node.callee.type !== 'MemberExpression') return false;
  const { object, property } = node.callee;
  return (
    property.type === 'Identifier' &&
    LEVELS.has(property.name) &&
    object.type === 'MemberExpression' &&
    object.property.type === 'Identifier' &&
    object.property.name === 'logger'
  );
}

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, 'logging', {
    shouldIgnore(path) {
      return isLoggerCall(path.node) ? 'a log call: it changes only what is logged' : undefined;
    },
  }),
];
