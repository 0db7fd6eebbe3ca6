// Where the publisher puts a revision's events: plain NATS subjects, or a
// JetStream stream that keeps them and says when it has them.
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { Event } from '../proto/mvccpb.js';
import { decodeEventMessage, encodeEventMessage } from './eventMessages.js';
import { kvRoot, kvSubject } from './subjects.js';

export interface ChangeSink {
  /** Publishes the events of one revision; resolves once they are out (JetStream: acknowledged). */
  publishRevision(revision: number, events: readonly Event[]): Promise<void>;
  /** The last revision the sink holds whole, when it keeps anything (JetStream); undefined otherwise. */
  lastPublished(): Promise<number | undefined>;
}

/** JetStream's err_code for a stream that does not exist. */
const STREAM_NOT_FOUND = 10059;

const maxPayload = (nc: NatsConnection): number => nc.info?.max_payload ?? 1024 * 1024;

/** Plain NATS: at most once per subscriber, in order per publisher; nothing kept. */
export class SubjectSink implements ChangeSink {
  constructor(
    private readonly nc: NatsConnection,
    private readonly clusterId: bigint,
  ) {}

  publishRevision(revision: number, events: readonly Event[]): Promise<void> {
    const limit = maxPayload(this.nc);
    events.forEach((event, i) => {
      const { body, headers } = encodeEventMessage(revision, i + 1, events.length, event, limit);
      this.nc.publish(kvSubject(this.clusterId, event.kv?.key ?? new Uint8Array(0)), body, { headers });
    });
    return Promise.resolve();
  }

  lastPublished(): Promise<number | undefined> {
    return Promise.resolve(undefined);
  }
}

/** The Nats-Msg-Id of an event: the stream drops a second copy within its duplicate window. */
export const messageId = (clusterId: bigint, revision: number, index: number): string =>
  `${clusterId.toString(16)}:${revision}:${index}`;

/**
 * A JetStream stream over xetcd.<cid>.kv.> (created when missing). Every event
 * is published with its Nats-Msg-Id, so republishing a revision after a leader
 * change or a failed publish stores nothing twice.
 */
export class JetStreamSink implements ChangeSink {
  private readonly js: JetStreamClient;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly clusterId: bigint,
    readonly stream: string,
  ) {
    this.js = jetstream(nc);
  }

  static async open(
    nc: NatsConnection,
    clusterId: bigint,
    stream: string,
    logger: Logger,
  ): Promise<JetStreamSink> {
    const jsm = await jetstreamManager(nc);
    const subject = `${kvRoot(clusterId)}.>`;
    try {
      const info = await jsm.streams.info(stream);
      if (!info.config.subjects?.includes(subject)) {
        logger.warn(
          { stream, subjects: info.config.subjects, want: subject },
          'the JetStream stream does not take the subjects the changes go to; publishing will fail',
        );
      }
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== STREAM_NOT_FOUND) throw err;
      try {
        await jsm.streams.add({ name: stream, subjects: [subject] });
        logger.info({ stream, subject }, 'created the JetStream stream for the key space changes');
      } catch (addErr) {
        // Another member created it in the meantime.
        await jsm.streams.info(stream).catch(() => {
          throw addErr;
        });
      }
    }
    return new JetStreamSink(nc, clusterId, stream);
  }

  async publishRevision(revision: number, events: readonly Event[]): Promise<void> {
    const limit = maxPayload(this.nc);
    await Promise.all(
      events.map((event, i) => {
        const { body, headers } = encodeEventMessage(revision, i + 1, events.length, event, limit);
        return this.js.publish(kvSubject(this.clusterId, event.kv?.key ?? new Uint8Array(0)), body, {
          headers,
          msgID: messageId(this.clusterId, revision, i + 1),
        });
      }),
    );
  }

  /** The stream's last event: its revision if it was the revision's last event, else the one before. */
  async lastPublished(): Promise<number | undefined> {
    const jsm = await jetstreamManager(this.nc);
    const last = await jsm.streams.getMessage(this.stream, { last_by_subj: `${kvRoot(this.clusterId)}.>` });
    if (last === null) return undefined;
    const m = decodeEventMessage({ headers: last.header, data: last.data });
    return m.index === m.count ? m.revision : m.revision - 1;
  }
}
