// Where each setting comes from. Precedence: command-line flag, then the
// XETCD_* environment variable, then etcd's ETCD_* one, then the YAML
// --config-file, then the default. (etcd itself ignores flags and env once a
// config file is given; we layer them instead so a file can hold the cluster
// layout and a flag can override one value.)
import { parse as parseYaml } from 'yaml';
import {
  CONFIG_FILE_FLAG,
  FLAGS,
  YAML_ONLY_KEYS,
  envName,
  etcdEnvName,
  flagSpec,
  type FlagSpec,
  type YamlSection,
} from './flags.js';

export type Origin = 'flag' | 'env' | 'etcd-env' | 'file' | 'default';

export interface RawValue {
  readonly text: string;
  readonly origin: Origin;
}

/** Every flag of FLAGS, as text, with where the text came from. */
export type RawSettings = Readonly<Record<string, RawValue>>;

export interface SourceInput {
  /** Parsed command-line options keyed by flag name; `true` for a bare boolean flag. */
  readonly flags: Readonly<Record<string, string | boolean | undefined>>;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Reads the config file; injected so tests need no disk. */
  readonly readFile: (path: string) => string;
}

export interface GatheredSources {
  readonly raw: RawSettings;
  readonly configFile?: string;
  readonly problems: string[];
  readonly warnings: string[];
}

function scalarText(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (Array.isArray(value)) return value.map((v) => String(v)).join(',');
  if (typeof value === 'object') return undefined;
  return String(value);
}

/** The flags etcd nests under a YAML section, by their key there. */
function sectionFlags(section: YamlSection): Map<string, FlagSpec> {
  return new Map(
    FLAGS.filter((f) => f.yamlSection === section).map((f) => [f.yamlKey ?? f.name, f] as const),
  );
}

function readSection(
  section: YamlSection,
  value: unknown,
  path: string,
  problems: string[],
  take: (flag: string, value: unknown, where: string) => void,
): void {
  if (value === null || value === undefined) return;
  if (typeof value !== 'object' || Array.isArray(value)) {
    problems.push(`--${CONFIG_FILE_FLAG}: '${section}' in '${path}' must be a mapping`);
    return;
  }
  const flags = sectionFlags(section);
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const spec = flags.get(k);
    if (spec === undefined) {
      problems.push(
        `--${CONFIG_FILE_FLAG}: unknown key '${section}.${k}' in '${path}' (valid: ${[...flags.keys()].join(', ')})`,
      );
      continue;
    }
    take(spec.name, v, `${section}.`);
  }
}

function readYaml(
  path: string,
  input: SourceInput,
  problems: string[],
  warnings: string[],
): Map<string, string> {
  const values = new Map<string, string>();
  let text: string;
  try {
    text = input.readFile(path);
  } catch (err) {
    problems.push(`--${CONFIG_FILE_FLAG}: cannot read '${path}' (${(err as Error).message})`);
    return values;
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    problems.push(
      `--${CONFIG_FILE_FLAG}: '${path}' is not valid YAML (${(err as Error).message.split('\n')[0]})`,
    );
    return values;
  }
  if (doc === null || doc === undefined) return values;
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    problems.push(`--${CONFIG_FILE_FLAG}: '${path}' must be a mapping of etcd setting names to values`);
    return values;
  }
  const take = (key: string, value: unknown, where: string): void => {
    const spec = flagSpec(key);
    if (spec === undefined) {
      problems.push(
        `--${CONFIG_FILE_FLAG}: unknown key '${where}${key}' in '${path}' (keys are the flag names, e.g. data-dir)`,
      );
      return;
    }
    // etcd's YAML leaves unset keys empty (`data-dir:`): that is the default, not an empty value.
    if (value === null) return;
    const s = scalarText(value);
    if (s === undefined) {
      problems.push(`--${CONFIG_FILE_FLAG}: key '${where}${key}' in '${path}' must be a scalar or a list`);
      return;
    }
    values.set(key, s);
  };
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    if (key === 'client-transport-security' || key === 'peer-transport-security') {
      readSection(key, value, path, problems, take);
      continue;
    }
    if (key in YAML_ONLY_KEYS) {
      const s = scalarText(value);
      if (s !== 'true' && s !== undefined) warnings.push(`${key}: ${String(YAML_ONLY_KEYS[key])}; ignored`);
      continue;
    }
    take(key, value, '');
  }
  return values;
}

export function gatherSources(input: SourceInput): GatheredSources {
  const problems: string[] = [];
  const warnings: string[] = [];

  const fileFlag = input.flags[CONFIG_FILE_FLAG];
  const configFile =
    (typeof fileFlag === 'string' && fileFlag !== '' ? fileFlag : undefined) ??
    (input.env[envName(CONFIG_FILE_FLAG)] || undefined) ??
    (input.env[etcdEnvName(CONFIG_FILE_FLAG)] || undefined);
  const fromFile =
    configFile === undefined ? new Map<string, string>() : readYaml(configFile, input, problems, warnings);

  const names = [...FLAGS.map((f) => f.name), CONFIG_FILE_FLAG];
  const known = new Set(names.flatMap((n) => [envName(n), etcdEnvName(n)]));
  for (const [key, value] of Object.entries(input.env)) {
    // etcd warns the same way (pkg/flags); ETCDCTL_* are the client's, not ours.
    if ((key.startsWith('XETCD_') || key.startsWith('ETCD_')) && !known.has(key))
      warnings.push(`unrecognized environment variable ${key}=${value ?? ''}; ignored`);
  }

  const raw: Record<string, RawValue> = {};
  for (const spec of FLAGS) {
    const flag = input.flags[spec.name];
    const env = input.env[envName(spec.name)];
    const etcdEnv = input.env[etcdEnvName(spec.name)];
    const file = fromFile.get(spec.name);
    if (flag !== undefined && (env !== undefined || etcdEnv !== undefined))
      warnings.push(
        `${env !== undefined ? envName(spec.name) : etcdEnvName(spec.name)} is shadowed by the command-line flag --${spec.name}`,
      );
    if (flag !== undefined) raw[spec.name] = { text: flag === true ? 'true' : String(flag), origin: 'flag' };
    else if (env !== undefined) raw[spec.name] = { text: env, origin: 'env' };
    else if (etcdEnv !== undefined) raw[spec.name] = { text: etcdEnv, origin: 'etcd-env' };
    else if (file !== undefined) raw[spec.name] = { text: file, origin: 'file' };
    else raw[spec.name] = { text: spec.default, origin: 'default' };
    const inert = spec.inert;
    if (inert !== undefined && raw[spec.name]?.origin !== 'default' && raw[spec.name]?.text !== spec.default)
      warnings.push(`--${spec.name} changes nothing in xetcd: ${inert}`);
  }
  return configFile === undefined ? { raw, problems, warnings } : { raw, configFile, problems, warnings };
}

/** How a problem line names the setting: the flag, plus the env var or file it actually came from. */
export function settingLabel(flag: string, origin: Origin): string {
  if (origin === 'env') return `--${flag} (from ${envName(flag)})`;
  if (origin === 'etcd-env') return `--${flag} (from ${etcdEnvName(flag)})`;
  if (origin === 'file') return `--${flag} (from the config file)`;
  return `--${flag}`;
}
