// The reads every party has of its disputes — the list, one with its timeline, files and
// messages, a file as an attachment — and the file upload of the two parties that add files.
// One definition for the merchant API, the trader API and the admin API: each names its
// path, who asks (the party that scopes every read: another's dispute answers 404), the object
// it sees, and its operation ids.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { mapPage } from '../db/cursor.ts';
import { idempotencyHeaders, withIdempotencyErrors, type Idempotent } from '../http/idempotency.ts';
import { pageRequest } from '../http/paging.ts';
import { pageOf } from '../http/schemas.ts';
import type { JsonSchema, KasaApp } from '../http/validation.ts';
import { attachmentName } from './files.ts';
import { detailOf, disputeListQuery, disputeParams, fileObject, fileParams, fileResponse, UPLOAD_DESCRIPTION, UPLOAD_ERRORS, uploadOf } from './schema.ts';
import { DISPUTE_LIST_LIMIT_DEFAULT, type DisputeParty, type Disputes } from './service.ts';
import { disputeDetailView, fileView, type DisputeRow } from './views.ts';

export const DISPUTE_NOT_FOUND = 'DISPUTE_NOT_FOUND: no such dispute of yours';

export interface DisputeReader<P extends DisputeParty, V> {
  /** The list's path; one dispute is `${path}/:dispute_id`. */
  path: string;
  party: (request: FastifyRequest) => P;
  /** The dispute as this party sees it, and its schema. */
  object: JsonSchema;
  view: (x: DisputeRow) => V;
  /** tags and security of every route. */
  schema: { tags: string[]; security: Record<string, string[]>[] };
  /** The errors every route of this party may answer (authentication, validation). */
  errors: Record<number, string>;
  operationIds: { list: string; get: string; file: string };
  /** What a 404 says (default: no such dispute of yours). */
  notFound?: string;
  summaries: { list: string; get: string };
}

/** Serves a stored file so that no browser renders it: an attachment, its type not sniffed. */
function sendFile(reply: FastifyReply, file: Awaited<ReturnType<Disputes['file']>>) {
  return reply
    .header('content-disposition', `attachment; filename="${attachmentName(file.id, file.contentType)}"`)
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', "default-src 'none'; sandbox")
    .header('cache-control', 'private, no-store')
    .type(file.contentType)
    .send(file.data);
}

export function disputeReadRoutes<P extends DisputeParty, V>(app: KasaApp, disputes: Disputes, reader: DisputeReader<P, V>): void {
  const { schema, errors, party } = reader;

  app.get(
    reader.path,
    {
      schema: {
        ...schema,
        summary: reader.summaries.list,
        operationId: reader.operationIds.list,
        querystring: disputeListQuery.schema,
        response: { 200: pageOf(reader.object) },
      },
      config: { errorDocs: { ...errors, 400: 'INVALID_CURSOR' } },
    },
    async (request) =>
      mapPage(await disputes.list(party(request), { status: request.query.status, ...pageRequest(request.query, DISPUTE_LIST_LIMIT_DEFAULT) }), reader.view),
  );

  app.get(
    `${reader.path}/:dispute_id`,
    {
      schema: {
        ...schema,
        summary: reader.summaries.get,
        operationId: reader.operationIds.get,
        params: disputeParams.schema,
        response: { 200: detailOf(reader.object) },
      },
      config: { errorDocs: { ...errors, 404: reader.notFound ?? DISPUTE_NOT_FOUND } },
    },
    async (request) => disputeDetailView(await disputes.get(party(request), request.params.dispute_id), reader.view),
  );

  app.get(
    `${reader.path}/:dispute_id/files/:file_id`,
    {
      schema: {
        ...schema,
        summary: "A dispute's file, as an attachment",
        operationId: reader.operationIds.file,
        params: fileParams.schema,
        response: { 200: fileResponse },
      },
      config: { errorDocs: { ...errors, 404: 'DISPUTE_FILE_NOT_FOUND' } },
    },
    async (request, reply) => sendFile(reply, await disputes.file(party(request), request.params.dispute_id, request.params.file_id)),
  );
}

/**
 * `POST ${path}/:dispute_id/files`: a file added by a party of the dispute, answered once per
 * Idempotency-Key — the key's fingerprint taken over the file's hash, not its megabytes.
 */
export function disputeFileRoute(
  app: KasaApp,
  disputes: Disputes,
  idempotent: Idempotent,
  route: Pick<DisputeReader<Exclude<DisputeParty, { kind: 'operator' }>, unknown>, 'path' | 'party' | 'schema' | 'errors'> & {
    summary: string;
    operationId: string;
  },
): void {
  app.post(
    `${route.path}/:dispute_id/files`,
    {
      schema: {
        ...route.schema,
        summary: route.summary,
        description: UPLOAD_DESCRIPTION,
        operationId: route.operationId,
        headers: idempotencyHeaders.schema,
        params: disputeParams.schema,
        response: { 201: fileObject },
      },
      config: { errorDocs: withIdempotencyErrors({ ...route.errors, ...UPLOAD_ERRORS, 404: DISPUTE_NOT_FOUND }) },
    },
    async (request, reply) => {
      const upload = uploadOf(request);
      request.body = { file_sha256: upload.file.sha256 };
      return idempotent(request, reply, 201, async (trx) =>
        fileView(await disputes.addFile(route.party(request), request.params.dispute_id, upload.file, trx)),
      );
    },
  );
}
