import { randomUUID } from 'node:crypto';
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import {
  baseName,
  ForbiddenError,
  MAX_NAME_BYTES,
  normalizeVfsPath,
  pageQuerySchema,
  QuotaExceededError,
  setQuotaBodySchema,
  text,
  ValidationError,
  type FileContent,
  type FsEntry,
  type FsStats,
  type Page,
  type QuotaView,
  type RawFileView,
  type VfsFileView,
  UsersVerbs,
} from '@encedeus/contracts';
import { putStream } from '@encedeus/chunks';
import { CommandClient, retry, type CommandMeta } from '@encedeus/messaging';
import { Authenticated, CurrentPrincipal, hasPermission, RequirePermission, type Principal } from '@encedeus/security';
import { commandMeta } from '../common/request-meta';
import { UuidParam } from '../common/uuid-param';
import { receiveUpload, sendFile, type UploadPart } from './chunk-streaming';
import { GatewayChunkStore } from './gateway-chunk-store';

class PageQuery extends createZodDto(pageQuerySchema) {}
class LsQuery extends createZodDto(pageQuerySchema.extend({ path: text().max(20_000).optional() })) {}
class PathQuery extends createZodDto(z.object({ path: text().max(20_000) })) {}
class MkdirDto extends createZodDto(z.object({ path: text().max(20_000) })) {}
class MoveDto extends createZodDto(z.object({ old_path: text().max(20_000), new_path: text().max(20_000) })) {}
class QuotaDto extends createZodDto(setQuotaBodySchema) {}

/** How often an upload in flight renews its reservation (the files service lets one lapse after 2 min). */
export const UPLOAD_RENEW_MS = 30_000;

/** A release the files service did not take (it is down) is tried again this often until the reservation would have lapsed anyway. */
const RELEASE_RETRY_MS = 5_000;
const RELEASE_ATTEMPTS = 120_000 / RELEASE_RETRY_MS;

/**
 * Releases an upload's reservation. The first try is awaited; when the files service is down it is
 * tried again in the background, so the quota (and, for the collector, the upload's chunks) is
 * freed as soon as the service is back rather than when the reservation lapses.
 */
async function releaseReservation(commands: CommandClient, uploadId: string, meta: CommandMeta): Promise<void> {
  const release = () => commands.send('files', 'abort_upload', { upload_id: uploadId }, meta);
  await release().catch(() => void retry(release, { attempts: RELEASE_ATTEMPTS, backoffMs: RELEASE_RETRY_MS }).catch(() => undefined));
}

/** Commands and replies of an upload can take a while for a large file (chunk checks). */
const COMMIT_TIMEOUT_MS = 60_000;

/** The next page of a list whose body is an array (seed 001's shape): `X-Next-Cursor`. */
function paged<T>(res: Response, page: Page<T>): T[] {
  if (page.nextCursor) res.setHeader('X-Next-Cursor', page.nextCursor);
  return page.items;
}

/**
 * Streams an upload: reserves quota with the files service, cuts the part into content-defined
 * chunks and puts them (putStream, a bounded number in flight), stops at the reservation (413),
 * then asks the files service to commit `{path, size, sha256, chunks}`. A refused or failed upload
 * releases its reservation; the chunks it stored are collected after the grace.
 */
async function streamUpload<T>(
  commands: CommandClient,
  chunks: GatewayChunkStore,
  req: Request,
  res: Response,
  p: Principal,
  target: (part: UploadPart) => { path?: string; name: string },
): Promise<T> {
  const meta: CommandMeta = commandMeta(req, p);
  const declared = Number(req.headers['content-length']);
  return receiveUpload(req, res, async (part) => {
    if (part.fieldname !== 'file') throw new ValidationError(`Unexpected file part "${part.fieldname}"; name it "file"`, [{ path: part.fieldname, message: 'unexpected' }]);
    const { path, name } = target(part);
    const uploadId = randomUUID();
    const { available_bytes: available } = await commands.send<{ available_bytes: number }>(
      'files',
      'begin_upload',
      { user_id: p.userId, upload_id: uploadId, ...(path ? { path } : {}), ...(Number.isSafeInteger(declared) && declared >= 0 ? { declared_bytes: declared } : {}) },
      meta,
    );
    const store = await chunks.get();
    // The chunker may surface a stop from onProgress as an abort: remember why it stopped.
    let overQuota: QuotaExceededError | undefined;
    // However long the upload takes, its reservation (and so its chunks, for the collector) stays alive.
    const renewal = setInterval(() => void commands.send('files', 'renew_upload', { upload_id: uploadId }, meta).catch(() => undefined), UPLOAD_RENEW_MS);
    renewal.unref();
    try {
      const stored = await putStream(store, part.stream, {
        worker: true,
        onProgress: (read) => {
          if (read > available) throw (overQuota = new QuotaExceededError(0, available, read));
        },
      });
      return await commands.send<T>(
        'files',
        'commit_upload',
        { user_id: p.userId, upload_id: uploadId, ...(path ? { path } : {}), name, size: stored.size, sha256: stored.sha256, chunks: stored.chunks },
        meta,
        { timeoutMs: COMMIT_TIMEOUT_MS },
      );
    } catch (error) {
      await releaseReservation(commands, uploadId, meta);
      if (overQuota) {
        // Read the rest of the part so the client gets the answer rather than a reset connection.
        part.stream.resume();
        const quota = await commands.send<QuotaView>('files', 'quota', { user_id: p.userId }, meta).catch(() => undefined);
        throw quota ? new QuotaExceededError(quota.used_bytes, quota.quota_bytes, (overQuota.details as { wanted_bytes: number }).wanted_bytes) : overQuota;
      }
      throw error;
    } finally {
      clearInterval(renewal);
    }
  });
}

/** A file name from a multipart part: its basename, never a path; bounded. */
function partName(part: UploadPart): string {
  const name = (part.originalname ?? '').split(/[\\/]/).pop() ?? '';
  if (!name || name === '.' || name === '..' || name.includes('\0') || new TextEncoder().encode(name).length > MAX_NAME_BYTES) {
    throw new ValidationError('The file part needs a file name (at most 255 bytes, no path)', [{ path: 'file', message: 'bad file name' }]);
  }
  return name;
}

/** Raw files (seed 001): `/files`. Each user sees only their own. */
@ApiTags('files')
@Controller('files')
export class RawFilesController {
  constructor(
    private readonly commands: CommandClient,
    @Inject(GatewayChunkStore) private readonly chunks: GatewayChunkStore,
  ) {}

  @RequirePermission('files.write')
  @Post('upload')
  @HttpCode(200)
  upload(@Req() req: Request, @Res({ passthrough: true }) res: Response, @CurrentPrincipal() p: Principal): Promise<RawFileView> {
    return streamUpload<RawFileView>(this.commands, this.chunks, req, res, p, (part) => ({ name: partName(part) }));
  }

  @RequirePermission('files.read')
  @Get()
  async list(@Query() query: PageQuery, @Req() req: Request, @Res({ passthrough: true }) res: Response, @CurrentPrincipal() p: Principal): Promise<RawFileView[]> {
    return paged(res, await this.commands.send<Page<RawFileView>>('files', 'list_raw', { ...query, user_id: p.userId }, commandMeta(req, p)));
  }

  @RequirePermission('files.read')
  @Get(':id/download')
  async download(@Param('id', UuidParam) id: string, @Req() req: Request, @Res() res: Response, @CurrentPrincipal() p: Principal): Promise<void> {
    const content = await this.commands.send<FileContent>('files', 'content', { user_id: p.userId, id }, commandMeta(req, p));
    await sendFile(await this.chunks.get(), content, req, res);
  }

  @RequirePermission('files.write')
  @Delete(':id')
  @HttpCode(204)
  async remove(@Param('id', UuidParam) id: string, @Req() req: Request, @CurrentPrincipal() p: Principal): Promise<void> {
    await this.commands.send('files', 'delete_raw', { user_id: p.userId, id }, commandMeta(req, p));
  }
}

/** The per-user virtual file system (seed 001): `/fs`. Paths are the caller's own; another user's tree does not exist for them. */
@ApiTags('files')
@Controller('fs')
export class VfsController {
  constructor(
    private readonly commands: CommandClient,
    @Inject(GatewayChunkStore) private readonly chunks: GatewayChunkStore,
  ) {}

  @RequirePermission('files.write')
  @Post('mkdir')
  @HttpCode(200)
  mkdir(@Body() body: MkdirDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<{ message: string; path: string }>('files', 'mkdir', { user_id: p.userId, path: normalizeVfsPath(body.path) }, commandMeta(req, p));
  }

  @RequirePermission('files.read')
  @Get('ls')
  async ls(@Query() query: LsQuery, @Req() req: Request, @Res({ passthrough: true }) res: Response, @CurrentPrincipal() p: Principal): Promise<FsEntry[]> {
    const path = normalizeVfsPath(query.path ?? '/');
    return paged(res, await this.commands.send<Page<FsEntry>>('files', 'ls', { user_id: p.userId, path, limit: query.limit, cursor: query.cursor }, commandMeta(req, p)));
  }

  /** Multipart `path` (sent before `file`, or `?path=`) and `file`; replaces a file at that path. */
  @RequirePermission('files.write')
  @Post('upload')
  @HttpCode(200)
  upload(@Req() req: Request, @Res({ passthrough: true }) res: Response, @CurrentPrincipal() p: Principal): Promise<VfsFileView> {
    return streamUpload<VfsFileView>(this.commands, this.chunks, req, res, p, (part) => {
      const given = (req.body as Record<string, unknown> | undefined)?.path ?? req.query.path;
      if (typeof given !== 'string') {
        throw new ValidationError('Send the "path" field before the "file" part (or ?path=)', [{ path: 'path', message: 'required before file' }]);
      }
      partName(part);
      const path = normalizeVfsPath(given);
      return { path, name: baseName(path) };
    });
  }

  @RequirePermission('files.read')
  @Get('download')
  async download(@Query() query: PathQuery, @Req() req: Request, @Res() res: Response, @CurrentPrincipal() p: Principal): Promise<void> {
    const content = await this.commands.send<FileContent>('files', 'content', { user_id: p.userId, path: normalizeVfsPath(query.path) }, commandMeta(req, p));
    await sendFile(await this.chunks.get(), content, req, res);
  }

  @RequirePermission('files.write')
  @Delete('delete')
  delete(@Query() query: PathQuery, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.commands.send<{ message: string; path: string }>('files', 'delete', { user_id: p.userId, path: normalizeVfsPath(query.path) }, commandMeta(req, p));
  }

  @RequirePermission('files.write')
  @Post('move')
  @HttpCode(200)
  move(@Body() body: MoveDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    const paths = { old_path: normalizeVfsPath(body.old_path), new_path: normalizeVfsPath(body.new_path) };
    return this.commands.send('files', 'move', { user_id: p.userId, ...paths }, commandMeta(req, p));
  }

  @RequirePermission('files.read')
  @Get('quota')
  quota(@Req() req: Request, @CurrentPrincipal() p: Principal): Promise<QuotaView> {
    return this.commands.send<QuotaView>('files', 'quota', { user_id: p.userId }, commandMeta(req, p));
  }

  /** Store-wide figures: `files.admin` or `system.health`. */
  @Authenticated()
  @Get('stats')
  stats(@Req() req: Request, @CurrentPrincipal() p: Principal): Promise<FsStats> {
    if (!hasPermission(p, 'files.admin') && !hasPermission(p, 'system.health')) throw new ForbiddenError('Storage statistics need files.admin or system.health');
    return this.commands.send<FsStats>('files', 'stats', {}, commandMeta(req, p));
  }
}

/** `PUT /users/:id/quota {bytes}`: an administrator sets a user's storage quota. */
@ApiTags('files')
@Controller('users')
export class QuotaController {
  constructor(private readonly commands: CommandClient) {}

  @RequirePermission('files.admin')
  @Put(':id/quota')
  async setQuota(@Param('id', UuidParam) id: string, @Body() body: QuotaDto, @Req() req: Request, @CurrentPrincipal() p: Principal): Promise<QuotaView> {
    // A user that does not exist is 404 (the users service answers NOT_FOUND), not a quota on nobody.
    await this.commands.send('users', UsersVerbs.get, { id }, commandMeta(req, p));
    return this.commands.send<QuotaView>('files', 'set_quota', { user_id: id, bytes: body.bytes }, commandMeta(req, p));
  }
}


