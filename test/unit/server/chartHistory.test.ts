import { createActor, createMachine, fromPromise } from 'xstate';
import { describe, expect, it } from 'vitest';
import { ChartHistory, eventName } from '../../../src/server/chartHistory.js';

describe('ChartHistory', () => {
  it("records the chart's own changes with the event behind each, not its children's", async () => {
    const machine = createMachine({
      id: 'demo',
      initial: 'idle',
      states: {
        idle: { on: { GO: 'working', NOTHING: {} } },
        working: { invoke: { src: fromPromise(() => Promise.resolve(1)), onDone: 'done' } },
        done: { type: 'final' },
      },
    });
    const seen: unknown[] = [];
    let t = 100;
    const history = new ChartHistory({ next: (e) => seen.push(e.type) }, () => t++);
    const actor = createActor(machine, { inspect: history.inspect }).start();
    expect(history.value).toBe('idle');
    actor.send({ type: 'NOTHING' });
    actor.send({ type: 'GO' });
    await new Promise((r) => setTimeout(r, 10));
    expect(history.recent().map((c) => [c.from, c.to, c.event, c.at])).toEqual([
      ['idle', 'working', 'GO', 100],
      ['working', 'done', 'working done', 101],
    ]);
    // Everything still reaches the inspector it forwards to.
    expect(seen).toContain('@xstate.actor');
    expect(seen).toContain('@xstate.event');
  });

  it('keeps the last fifty changes', () => {
    const history = new ChartHistory();
    for (let i = 0; i < 60; i++) history.record({ from: `s${i}`, to: `s${i + 1}`, event: 'E', at: i });
    expect(history.recent()).toHaveLength(50);
    expect(history.recent()[0]!.at).toBe(10);
    expect(history.value).toBe('s60');
  });

  it("names XState's internal events as a person reads them", () => {
    expect(eventName({ type: 'xstate.done.actor.openStorage' })).toBe('openStorage done');
    expect(eventName({ type: 'xstate.done.actor.0.memberLifecycle.serving.opening' })).toBe('opening done');
    expect(eventName({ type: 'xstate.error.actor.bootstrap' })).toBe('bootstrap failed');
    expect(eventName({ type: 'xstate.after.1500.demo.idle' })).toBe('after 1500 ms');
    expect(eventName({ type: 'LEADER_ELECTED' })).toBe('LEADER_ELECTED');
  });
});
