// URL lists and the --initial-cluster map, checked the way etcd's types.NewURLs
// checks them: a scheme we serve, a host with a port, and no path.

export type UrlCheck = { ok: true; url: string } | { ok: false; problem: string };

/**
 * Canonical text of one URL ("http://localhost:2380"). The canonical form matters:
 * member IDs hash the peer URL strings, so "http://localhost:2380/" must not differ
 * from "http://localhost:2380".
 */
export function checkUrl(text: string, schemes: readonly string[]): UrlCheck {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return { ok: false, problem: `'${text}' is not a URL (expected e.g. ${schemes[0]}://127.0.0.1:2379)` };
  }
  const scheme = u.protocol.replace(/:$/, '');
  if (!schemes.includes(scheme)) {
    return {
      ok: false,
      problem: `'${text}' has scheme '${scheme}'; valid schemes are ${schemes.join(', ')}`,
    };
  }
  // URL drops a port equal to the scheme's default, so look at the text itself.
  const authority = text.slice(text.indexOf('//') + 2).split('/')[0] ?? '';
  if (u.hostname === '' || !/:\d+$/.test(authority)) {
    return { ok: false, problem: `'${text}' does not have the form ${scheme}://host:port` };
  }
  if ((u.pathname !== '/' && u.pathname !== '') || u.search !== '' || u.hash !== '') {
    return { ok: false, problem: `'${text}' must not contain a path, query or fragment` };
  }
  if (u.username !== '' || u.password !== '') {
    return { ok: false, problem: `'${text}' must not contain user information` };
  }
  const port = authority.slice(authority.lastIndexOf(':') + 1);
  return { ok: true, url: `${scheme}://${u.hostname}:${Number(port)}` };
}

export function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export interface ClusterMember {
  readonly name: string;
  readonly peerUrls: readonly string[];
}

export type ClusterParse = { ok: true; members: ClusterMember[] } | { ok: false; problems: string[] };

/** `a=http://h1:2380,a=http://h1:2381,b=http://h2:2380`: a name may repeat to list several URLs. */
export function parseInitialCluster(text: string, schemes: readonly string[]): ClusterParse {
  const problems: string[] = [];
  const byName = new Map<string, string[]>();
  const owner = new Map<string, string>();
  for (const entry of splitList(text)) {
    const eq = entry.indexOf('=');
    if (eq <= 0) {
      problems.push(`'${entry}' is not of the form name=peerURL`);
      continue;
    }
    const name = entry.slice(0, eq).trim();
    const check = checkUrl(entry.slice(eq + 1).trim(), schemes);
    if (!check.ok) {
      problems.push(`member '${name}': ${check.problem}`);
      continue;
    }
    const prev = owner.get(check.url);
    if (prev !== undefined && prev !== name) {
      problems.push(`peer URL ${check.url} is given to both '${prev}' and '${name}'`);
      continue;
    }
    owner.set(check.url, name);
    const urls = byName.get(name) ?? [];
    if (!urls.includes(check.url)) urls.push(check.url);
    byName.set(name, urls);
  }
  if (problems.length === 0 && byName.size === 0)
    problems.push('must name at least one member (name=peerURL)');
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, members: [...byName].map(([name, peerUrls]) => ({ name, peerUrls })) };
}

/** The same URLs regardless of order (etcd's netutil.URLStringsEqual, without DNS). */
export function sameUrlSet(a: readonly string[], b: readonly string[]): boolean {
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}
