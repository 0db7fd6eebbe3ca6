import { describe, expect, it } from 'vitest';
import {
  buildKeyTree,
  keyCount,
  segments,
  sortedChildren,
  type KeyNode,
} from '../../../web/dashboard/keyTree.js';

/** The tree as indented lines: a key is marked with '*'. */
function outline(node: KeyNode, depth = 0): string[] {
  return sortedChildren(node).flatMap((c) => [
    `${'  '.repeat(depth)}${c.name}${c.isKey ? ' *' : ''}`,
    ...outline(c, depth + 1),
  ]);
}

describe('key tree', () => {
  it('splits keys after each slash', () => {
    expect(segments('a/b/c')).toEqual(['a/', 'b/', 'c']);
    expect(segments('/registry/pods')).toEqual(['/', 'registry/', 'pods']);
    expect(segments('dir/')).toEqual(['dir/']);
    expect(segments('plain')).toEqual(['plain']);
    expect(segments('a//b')).toEqual(['a/', '/', 'b']);
  });

  it('nests keys by their segments; a path can be a key and hold keys', () => {
    const tree = buildKeyTree([
      '/registry/pods/a',
      '/registry/pods/b',
      '/registry/svc',
      'foo',
      'foo/bar',
      'foo/',
    ]);
    expect(outline(tree)).toEqual([
      '/',
      '  registry/',
      '    pods/',
      '      a *',
      '      b *',
      '    svc *',
      'foo *',
      'foo/ *',
      '  bar *',
    ]);
    expect(keyCount(tree)).toBe(6);
    const registry = tree.children.get('/')!.children.get('registry/')!;
    expect(registry.prefix).toBe('/registry/');
    expect(keyCount(registry)).toBe(3);
  });

  it('is empty for no keys', () => {
    expect(buildKeyTree([]).children.size).toBe(0);
  });
});
