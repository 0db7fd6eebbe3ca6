/**
 * The key browser: the keys under a prefix as a tree, a key's value and
 * revisions, kept current by a watch. Read-only until the user ticks
 * "Allow editing". With auth on, it asks who the user is; what that user may
 * read is the server's to say (a permission error is shown as one).
 */
import { h } from './dom.js';
import { Gateway } from './gateway.js';
import { GatewayError, GrpcCodes, needsLogin, type KeyValue, type WatchMessage } from './gatewayCodec.js';
import { buildKeyTree, keyCount, sortedChildren, type KeyNode } from './keyTree.js';

/** Keys listed at most; the tree says when there are more. */
const RANGE_LIMIT = 2000;
const RETRY_MS = 1000;

export class KeyBrowser {
  private readonly gateway = new Gateway();
  private readonly keys = new Map<string, KeyValue>();
  private readonly expanded = new Set<string>(['']);
  private prefix = '';
  private selected: string | undefined;
  private more = false;
  private watchAbort: AbortController | undefined;
  private renderQueued = false;

  private readonly status = h('p', { class: 'key-status', role: 'status', 'data-testid': 'key-status' });
  private readonly tree = h('div', { class: 'key-tree', 'data-testid': 'key-tree' });
  private readonly detail = h('div', {
    class: 'key-detail',
    'data-testid': 'key-detail',
    'aria-live': 'polite',
  });
  private readonly login = h('form', { class: 'login', 'data-testid': 'login-form', hidden: true });
  private readonly editor = h('form', { class: 'editor', 'data-testid': 'key-editor', hidden: true });
  private readonly editToggle = h('input', {
    type: 'checkbox',
    id: 'allow-editing',
    'data-testid': 'allow-editing',
  });
  private readonly logout = h('button', { type: 'button', hidden: true }, 'Sign out');

  constructor(private readonly root: HTMLElement) {}

  start(): void {
    const prefixInput = h('input', {
      type: 'search',
      id: 'key-prefix',
      name: 'prefix',
      placeholder: 'every key',
      spellcheck: 'false',
    });
    const prefixForm = h(
      'form',
      { class: 'prefix' },
      h('label', { for: 'key-prefix' }, 'Prefix'),
      prefixInput,
      h('button', { type: 'submit' }, 'Show'),
    );
    prefixForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.prefix = prefixInput.value;
      this.reload();
    });
    this.editToggle.addEventListener('change', () => {
      this.editor.hidden = !this.editToggle.checked;
      this.renderDetail();
    });
    this.logout.addEventListener('click', () => {
      this.gateway.token = undefined;
      this.logout.hidden = true;
      this.reload();
    });
    this.buildLogin();
    this.buildEditor();
    this.root.append(
      h(
        'div',
        { class: 'key-controls' },
        prefixForm,
        h(
          'span',
          { class: 'toggle' },
          this.editToggle,
          h('label', { for: 'allow-editing' }, 'Allow editing'),
        ),
        this.logout,
      ),
      this.login,
      this.editor,
      this.status,
      h('div', { class: 'key-panes' }, h('nav', { 'aria-label': 'Keys' }, this.tree), this.detail),
    );
    this.reload();
  }

  private buildLogin(): void {
    const user = h('input', { id: 'login-user', name: 'user', autocomplete: 'username', required: true });
    const password = h('input', {
      id: 'login-password',
      name: 'password',
      type: 'password',
      autocomplete: 'current-password',
    });
    const error = h('p', { class: 'error', role: 'alert' });
    this.login.append(
      h('p', {}, 'Authentication is enabled: sign in to browse the keys your user may read.'),
      h('label', { for: 'login-user' }, 'User'),
      user,
      h('label', { for: 'login-password' }, 'Password'),
      password,
      h('button', { type: 'submit' }, 'Sign in'),
      error,
    );
    this.login.addEventListener('submit', (e) => {
      e.preventDefault();
      error.textContent = '';
      this.gateway.authenticate(user.value, password.value).then(
        () => {
          password.value = '';
          this.login.hidden = true;
          this.logout.hidden = false;
          this.reload();
        },
        (err: unknown) => (error.textContent = messageOf(err)),
      );
    });
  }

  private buildEditor(): void {
    const key = h('input', { id: 'put-key', name: 'key', required: true, spellcheck: 'false' });
    const value = h('textarea', { id: 'put-value', name: 'value', rows: 2, spellcheck: 'false' });
    const result = h('p', { class: 'result', role: 'status' });
    this.editor.append(
      h('h3', {}, 'Put a key'),
      h('label', { for: 'put-key' }, 'Key'),
      key,
      h('label', { for: 'put-value' }, 'Value'),
      value,
      h('button', { type: 'submit' }, 'Put'),
      result,
    );
    this.editor.addEventListener('submit', (e) => {
      e.preventDefault();
      this.gateway.put(key.value, value.value).then(
        () => (result.textContent = `Put ${key.value}`),
        (err: unknown) => (result.textContent = messageOf(err)),
      );
    });
  }

  /** Lists the keys again and restarts the watch just after the listing's revision. */
  private reload(): void {
    this.watchAbort?.abort();
    this.watchAbort = undefined;
    this.keys.clear();
    this.setStatus(`Loading keys${this.prefix === '' ? '' : ` under ${this.prefix}`}…`);
    this.gateway.range(this.prefix, true, RANGE_LIMIT).then(
      (answer) => {
        for (const kv of answer.kvs) this.keys.set(kv.key, kv);
        this.more = answer.more;
        this.setStatus('');
        this.render();
        this.startWatch(answer.revision + 1);
      },
      (err: unknown) => this.failed(err),
    );
  }

  private failed(err: unknown): void {
    this.keys.clear();
    this.render();
    if (err instanceof GatewayError && needsLogin(err)) {
      this.gateway.token = undefined;
      this.logout.hidden = true;
      this.login.hidden = false;
      this.setStatus('Sign in to see the keys.', 'auth');
      return;
    }
    if (err instanceof GatewayError && err.code === GrpcCodes.PermissionDenied) {
      this.setStatus(
        `Permission denied: your user may not read ${this.prefix === '' ? 'every key' : `the keys under ${this.prefix}`}. Choose a prefix it may read.`,
        'denied',
      );
      return;
    }
    this.setStatus(`Could not list the keys: ${messageOf(err)}`, 'error');
  }

  private startWatch(revision: number): void {
    const abort = new AbortController();
    this.watchAbort = abort;
    const onMessage = (m: WatchMessage): void => this.watched(m);
    this.gateway.watch(this.prefix, revision, onMessage, abort.signal).then(
      () => this.watchEnded(abort, undefined),
      (err: unknown) => this.watchEnded(abort, err),
    );
  }

  /** A watch that ends by itself (member restarting, compaction) starts over from a fresh listing. */
  private watchEnded(abort: AbortController, err: unknown): void {
    if (abort.signal.aborted || this.watchAbort !== abort) return;
    if (err instanceof GatewayError && (needsLogin(err) || err.code === GrpcCodes.PermissionDenied)) {
      this.failed(err);
      return;
    }
    this.setStatus('The watch ended; listing the keys again…');
    setTimeout(() => {
      if (this.watchAbort === abort) this.reload();
    }, RETRY_MS);
  }

  private watched(m: WatchMessage): void {
    switch (m.kind) {
      case 'created':
        return;
      case 'canceled':
      case 'error':
        this.watchAbort?.abort();
        if (m.kind === 'error') this.failed(m.error);
        else setTimeout(() => this.reload(), RETRY_MS);
        return;
      case 'events':
        for (const e of m.events) {
          if (e.type === 'PUT') this.keys.set(e.kv.key, e.kv);
          else this.keys.delete(e.kv.key);
          if (e.kv.key === this.selected) this.showKey(e.type === 'PUT' ? e.kv : undefined);
        }
        this.queueRender();
    }
  }

  private setStatus(text: string, kind?: string): void {
    this.status.textContent = text;
    if (kind === undefined) delete this.status.dataset['kind'];
    else this.status.dataset['kind'] = kind;
  }

  private queueRender(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.render();
    });
  }

  private render(): void {
    const root = buildKeyTree(this.keys.keys());
    const list = this.renderChildren(root);
    const count = this.keys.size;
    this.tree.replaceChildren(
      h(
        'p',
        { class: 'key-count' },
        `${count} ${count === 1 ? 'key' : 'keys'}${this.more ? ` (the first ${RANGE_LIMIT})` : ''}`,
      ),
      list,
    );
  }

  private renderChildren(node: KeyNode): HTMLUListElement {
    return h('ul', {}, ...sortedChildren(node).map((child) => this.renderNode(child)));
  }

  private renderNode(node: KeyNode): HTMLLIElement {
    const keyButton = node.isKey
      ? h(
          'button',
          {
            type: 'button',
            class: 'key',
            'data-testid': 'key-item',
            'data-key': node.prefix,
            'aria-current': node.prefix === this.selected ? 'true' : undefined,
          },
          node.name,
        )
      : null;
    keyButton?.addEventListener('click', () => this.select(node.prefix));
    if (node.children.size === 0) return h('li', {}, keyButton);
    const details = h(
      'details',
      { open: this.expanded.has(node.prefix) },
      h('summary', {}, `${node.name} `, h('span', { class: 'count' }, `(${keyCount(node)})`)),
      this.renderChildren(node),
    );
    // The toggle event comes a task after the click: a render in between would
    // rebuild the folder closed. The click (also Enter and Space) records the new
    // state at once; toggle covers any other way the folder opens or closes.
    const remember = (open: boolean): void => {
      if (open) this.expanded.add(node.prefix);
      else this.expanded.delete(node.prefix);
    };
    details.querySelector('summary')?.addEventListener('click', () => remember(!details.open));
    details.addEventListener('toggle', () => remember(details.open));
    return h('li', {}, keyButton, details);
  }

  private select(key: string): void {
    this.selected = key;
    this.queueRender();
    this.gateway.get(key).then(
      (kv) => this.showKey(kv),
      (err: unknown) => {
        this.detail.replaceChildren(h('p', { class: 'error' }, messageOf(err)));
      },
    );
  }

  private shown: KeyValue | undefined;

  private showKey(kv: KeyValue | undefined): void {
    this.shown = kv;
    this.renderDetail();
  }

  private renderDetail(): void {
    const kv = this.shown;
    if (this.selected === undefined) {
      this.detail.replaceChildren(h('p', { class: 'hint' }, 'Choose a key to see its value.'));
      return;
    }
    if (kv === undefined) {
      this.detail.replaceChildren(h('h3', {}, this.selected), h('p', {}, 'Deleted.'));
      return;
    }
    const row = (term: string, value: string, testid: string): HTMLElement[] => [
      h('dt', {}, term),
      h('dd', { 'data-testid': testid }, value),
    ];
    const del = h(
      'button',
      { type: 'button', class: 'danger', hidden: !this.editToggle.checked },
      'Delete this key',
    );
    del.addEventListener('click', () => {
      this.gateway.delete(kv.key).catch((err: unknown) => {
        this.detail.append(h('p', { class: 'error' }, messageOf(err)));
      });
    });
    this.detail.replaceChildren(
      h('h3', { class: 'key-name' }, kv.key),
      h('pre', { class: 'value', 'data-testid': 'key-value', tabindex: 0, 'aria-label': 'Value' }, kv.value),
      h(
        'dl',
        {},
        ...row('Create revision', String(kv.createRevision), 'key-create-revision'),
        ...row('Mod revision', String(kv.modRevision), 'key-mod-revision'),
        ...row('Version', String(kv.version), 'key-version'),
        ...row('Lease', kv.lease, 'key-lease'),
      ),
      del,
    );
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
