import { randomUUID } from 'node:crypto';
import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AGENT_DATA_BATCH_MAX, AGENT_SUCCESS, agentDataSchema, DomainError, ExternalAgentVerbs, type AgentData, type AgentDataBatch, type AgentDataBatchReply } from '@encedeus/contracts';
import { Batcher, CommandClient } from '@encedeus/messaging';
import type { Principal, PrincipalResolver } from '@encedeus/security';
import { markParsed, MAX_BODY_BYTES } from '../common/body-parser.middleware';
import { httpStatusOf } from '../common/http-status';
import { MSGPACK_TYPES, pack, unpack } from '../common/negotiation';
import { timeHttpRequest } from '../observability/metrics';

/** Bytes of documents in one batch to the metrics service, at most (a single larger document goes alone). */
const BATCH_BYTES = 512 * 1024;
/** Each document weighs at least this, so a batch of small ones stays within AGENT_DATA_BATCH_MAX. */
const MIN_DOCUMENT_WEIGHT = Math.ceil(BATCH_BYTES / AGENT_DATA_BATCH_MAX);

/**
 * The data documents of `POST /agents/data`, gathered from concurrent requests into one
 * `cmd.metrics.agent_data_batch` (up to 512 KiB or 1,000 documents; a document waits at most 1 ms
 * for others, and not at all while both sends are busy: it joins the next batch). One request
 * and one statement per batch instead of per document is what lets an external-agent fleet report
 * thousands of times a second (bench/metrics-agents). Each document is stamped with the time the
 * gateway received it.
 */
@Injectable()
export class AgentDataIngest implements OnModuleDestroy {
  private readonly batcher: Batcher<AgentDataBatch['items'][number]>;

  constructor(commands: CommandClient) {
    this.batcher = new Batcher(
      async (items) => {
        const reply = await commands.send<AgentDataBatchReply>('metrics', ExternalAgentVerbs.dataBatch, { items } satisfies AgentDataBatch, { actor: 'service:gateway', correlationId: randomUUID() });
        // A document the store refused fails its own request only.
        const outcomes: (DomainError | undefined)[] = items.map(() => undefined);
        for (const r of reply.refused ?? []) outcomes[r.index] = new DomainError(r.code, r.error, r.details);
        return outcomes;
      },
      { maxWeight: BATCH_BYTES, maxDelayMs: 1, concurrency: 2 },
    );
  }

  /** Resolves once the document is stored; rejects as its batch did (503 when the metrics service is away), or with its own error when the store refused it. */
  ingest(document: AgentData, bodyBytes: number): Promise<void> {
    return this.batcher.add({ ...document, t: Date.now() }, Math.max(bodyBytes, MIN_DOCUMENT_WEIGHT));
  }

  async onModuleDestroy(): Promise<void> {
    await this.batcher.flush().catch(() => undefined);
  }
}

const ROUTE = '/api/v1/agents/data';

/** Lets the regular handler (Express and Nest) take the request. */
export type PassOn = () => void;

/**
 * `POST /api/v1/agents/data` ahead of Express and Nest: an external agent reports every few
 * seconds, and the full pipeline (router, logger, guards, pipes, interceptors) costs several times
 * what storing the document does. This path takes only the plain case: a known principal holding
 * `metrics.ingest`, a JSON or MessagePack body with a Content-Length within the limit, no
 * Idempotency-Key, a document that validates. Everything else is passed on to the route in
 * ExternalAgentsController (a body already read goes with it, parsed), which answers exactly as it
 * answers any request: 401, 403, 413, 415, 422 with field names, idempotent replay. Answers
 * `{"result":"success"}` in JSON or, when Accept asks, MessagePack, with an X-Request-Id; a body
 * that does not parse is 400 and a metrics service that is away 503, in the `{error, code}` shape.
 */
export function agentDataFastPath(resolver: PrincipalResolver, ingest: AgentDataIngest) {
  return (req: IncomingMessage, res: ServerResponse, passOn: PassOn): void => {
    if (req.method !== 'POST' || req.url !== ROUTE || req.headers['idempotency-key'] !== undefined) return passOn();
    const type = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const isJson = type === 'application/json';
    if (!isJson && !MSGPACK_TYPES.includes(type)) return passOn();
    const length = Number(req.headers['content-length']);
    if (!Number.isSafeInteger(length) || length <= 0 || length > MAX_BODY_BYTES || req.headers['transfer-encoding'] !== undefined) return passOn();
    take(req, res, passOn, resolver, ingest, isJson).catch((error: unknown) => {
      const refusal = error instanceof DomainError ? error : new DomainError('INTERNAL', 'The report could not be stored');
      answer(req, res, httpStatusOf(refusal.code), refusal.toBody());
    });
  };
}

/** The principal of an Authorization header when it may report; null for anything Nest should answer (none, malformed, lacking the permission). */
async function reporter(resolver: PrincipalResolver, authorization: string | undefined): Promise<Principal | null> {
  if (!authorization) return null;
  try {
    const principal = await resolver.resolve(authorization);
    return principal?.permissions.has('metrics.ingest') ? principal : null;
  } catch {
    return null;
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function take(req: IncomingMessage, res: ServerResponse, passOn: PassOn, resolver: PrincipalResolver, ingest: AgentDataIngest, isJson: boolean): Promise<void> {
  // The body stays unread until the caller is known: Nest's route reads it for anyone else.
  if (!(await reporter(resolver, req.headers.authorization))) return passOn();
  const timing = timeHttpRequest(req, res, ROUTE);
  const raw = await readBody(req);
  let body: unknown;
  try {
    body = isJson ? JSON.parse(raw.toString('utf8')) : unpack(raw);
  } catch (error) {
    throw new DomainError('MALFORMED_BODY', `The body is not valid ${isJson ? 'JSON' : 'MessagePack'}: ${(error as Error).message}`);
  }
  const document = agentDataSchema.safeParse(body);
  if (!document.success) {
    // Nest's validation answers it (422 naming the fields), from the body as parsed here.
    timing.cancel();
    markParsed(req, body);
    return passOn();
  }
  await ingest.ingest(document.data, raw.length);
  answer(req, res, 200, AGENT_SUCCESS);
}

const SUCCESS_JSON = Buffer.from(JSON.stringify(AGENT_SUCCESS));
const SUCCESS_MSGPACK = pack(AGENT_SUCCESS);

/** Sends `body` as JSON or, when Accept asks, MessagePack, with the request's id. */
function answer(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
  const given = req.headers['x-request-id'];
  const msgpack = MSGPACK_TYPES.some((t) => String(req.headers.accept ?? '').includes(t));
  const bytes = body === AGENT_SUCCESS ? (msgpack ? SUCCESS_MSGPACK : SUCCESS_JSON) : msgpack ? pack(body) : Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    'Content-Type': msgpack ? 'application/msgpack' : 'application/json; charset=utf-8',
    'Content-Length': bytes.length,
    'X-Request-Id': typeof given === 'string' && /^[A-Za-z0-9_.-]{1,100}$/.test(given) ? given : randomUUID(),
  });
  res.end(bytes);
}
