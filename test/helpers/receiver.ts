// A real local webhook receiver for tests: node:http servers on loopback addresses that record
// every request and answer as the test says (a status, headers, a delay, or "hold" to keep the
// request open until the test releases it). It also watches concurrency: requests open at once
// (in all and per address), the same webhook-id open twice at once, and a webhook-id coming again
// after it was answered 2xx.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HANG_MS } from './cli.ts';

export interface Received {
  method: string;
  path: string;
  /** The address the request came to (one of the receiver's hosts). */
  host: string;
  headers: http.IncomingHttpHeaders;
  /** The raw body, exactly the bytes that came in (UTF-8). */
  body: string;
}

/**
 * body: any bytes; endless: after the body, chunks of filler without end, as fast as the client
 * reads them, until it hangs up.
 */
export type Reply = { status: number; headers?: Record<string, string>; body?: string | Buffer; endless?: boolean; delayMs?: number } | 'hold';

/** The filler an endless answer repeats. */
const ENDLESS_CHUNK = Buffer.alloc(64 * 1024, 'x');

export class Receiver {
  readonly received: Received[] = [];
  /** Decides the answer to the n-th request (0-based); 200 by default. */
  reply: (request: Received, n: number) => Reply = () => ({ status: 200 });
  /** One URL per host the receiver listens on, in the order given. */
  readonly urls: string[] = [];
  private readonly servers: http.Server[] = [];
  private readonly held: { res: http.ServerResponse; id: string }[] = [];
  /** Requests open right now, per webhook-id and per host. */
  private readonly openIds = new Map<string, number>();
  private readonly openHosts = new Map<string, number>();
  /** The most requests open at once to any one host. */
  maxOpenPerHost = 0;
  /** webhook-ids that arrived while a request with the same id was still open. */
  readonly overlaps: string[] = [];
  /** webhook-ids answered 2xx, and those that came again after that. */
  readonly completed = new Set<string>();
  readonly afterCompletion: string[] = [];
  /** Connections open right now, and the most open at once (all hosts). */
  private openSockets = 0;
  maxOpenSockets = 0;
  /** Bytes written by each endless answer before its client hung up, in order. */
  readonly endlessBytesWritten: number[] = [];

  private constructor() {}

  /** The first URL. */
  get url(): string {
    return this.urls[0]!;
  }

  static async start(hosts: string | string[] = '127.0.0.1'): Promise<Receiver> {
    const receiver = new Receiver();
    for (const host of Array.isArray(hosts) ? hosts : [hosts]) {
      const server = http.createServer((req, res) => receiver.handle(host, req, res));
      server.on('connection', (socket) => {
        receiver.maxOpenSockets = Math.max(receiver.maxOpenSockets, ++receiver.openSockets);
        socket.once('close', () => receiver.openSockets--);
      });
      await new Promise<void>((resolve) => server.listen(0, host, resolve));
      receiver.servers.push(server);
      receiver.urls.push(`http://${host}:${(server.address() as AddressInfo).port}/hook`);
    }
    return receiver;
  }

  private handle(host: string, req: http.IncomingMessage, res: http.ServerResponse): void {
    const id = typeof req.headers['webhook-id'] === 'string' ? req.headers['webhook-id'] : '';
    this.track(id, host, res);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request: Received = { method: req.method ?? '', path: req.url ?? '', host, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      this.received.push(request);
      const reply = this.reply(request, this.received.length - 1);
      if (reply === 'hold') {
        this.held.push({ res, id });
        return;
      }
      if (reply.endless) this.answerEndless(res, reply.status, reply.headers, reply.body);
      else if (reply.delayMs) setTimeout(() => this.answer(res, id, reply.status, reply.headers, reply.body), reply.delayMs);
      else this.answer(res, id, reply.status, reply.headers, reply.body);
    });
  }

  private answerEndless(res: http.ServerResponse, status: number, headers: Record<string, string> = {}, body: string | Buffer = ''): void {
    let written = 0;
    res.writeHead(status, headers);
    const write = (chunk: string | Buffer) => {
      written += Buffer.byteLength(chunk);
      return res.write(chunk);
    };
    const pump = () => {
      while (!res.destroyed && write(ENDLESS_CHUNK));
    };
    res.on('drain', pump);
    res.once('close', () => this.endlessBytesWritten.push(written));
    write(body);
    pump();
  }

  private answer(res: http.ServerResponse, id: string, status: number, headers: Record<string, string> = {}, body: string | Buffer = ''): void {
    if (res.writableEnded || res.destroyed) return;
    if (status >= 200 && status < 300) res.once('finish', () => this.completed.add(id));
    res.writeHead(status, headers).end(body);
  }

  private track(id: string, host: string, res: http.ServerResponse): void {
    if (this.completed.has(id)) this.afterCompletion.push(id);
    if (this.openIds.has(id)) this.overlaps.push(id);
    this.openIds.set(id, (this.openIds.get(id) ?? 0) + 1);
    const open = (this.openHosts.get(host) ?? 0) + 1;
    this.openHosts.set(host, open);
    this.maxOpenPerHost = Math.max(this.maxOpenPerHost, open);
    res.once('close', () => {
      const n = (this.openIds.get(id) ?? 1) - 1;
      if (n === 0) this.openIds.delete(id);
      else this.openIds.set(id, n);
      this.openHosts.set(host, (this.openHosts.get(host) ?? 1) - 1);
    });
  }

  /** Requests currently held open. */
  get heldCount(): number {
    return this.held.length;
  }

  /** Answers every held request with this status. */
  release(status = 200): void {
    for (const { res, id } of this.held.splice(0)) this.answer(res, id, status);
  }

  /** The requests received for one webhook-id, in order. */
  forId(id: string): Received[] {
    return this.received.filter((r) => r.headers['webhook-id'] === id);
  }

  async close(): Promise<void> {
    this.release(503);
    await Promise.all(
      this.servers.map((server) => {
        server.closeAllConnections();
        return new Promise<void>((resolve) => server.close(() => resolve()));
      }),
    );
  }
}

/**
 * Polls `condition` every 10 ms until it holds; `step` runs between polls. HANG_MS only tells a
 * hang from slowness: on a machine whose cores are busy the same work takes many times longer.
 */
export async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, step?: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + HANG_MS;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`no ${what} after ${HANG_MS} ms`);
    if (step) await step();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
