import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { createZodDto } from 'nestjs-zod';
import type { Server } from 'socket.io';
import {
  baseName,
  exportServerFileSchema,
  ForbiddenError,
  importServerFileSchema,
  normalizeVfsPath,
  serverFilePathQuerySchema,
  uploadServerFileQuerySchema,
  MAX_NAME_BYTES,
  ValidationError,
  type FileContent,
  type ServerAction,
  type ServerFileReadTransfer,
  type ServerFileWriteTransfer,
  type ServerFileWritten,
  type ServerView,
  type VfsFileView,
} from '@encedeus/contracts';
import { readChunks } from '@encedeus/chunks';
import { CommandClient, type CommandMeta } from '@encedeus/messaging';
import { Authenticated, CurrentPrincipal, hasPermission, type Principal } from '@encedeus/security';
import { commandMeta } from '../common/request-meta';
import { UuidParam } from '../common/uuid-param';
import { contentDisposition, receiveUpload, type UploadPart } from '../files/chunk-streaming';
import { GatewayChunkStore } from '../files/gateway-chunk-store';
import { storeInVfs } from '../files/vfs-store';
import { RealtimeServer } from '../realtime/realtime.server';
import { AgentTransfers } from './agent-transfers';
import { assertCanControl } from './fleet-access';
import { TransferProgress } from './server-file-progress';

class PathQuery extends createZodDto(serverFilePathQuerySchema) {}
class UploadQuery extends createZodDto(uploadServerFileQuerySchema) {}
class ImportDto extends createZodDto(importServerFileSchema) {}
class ExportDto extends createZodDto(exportServerFileSchema) {}

/** Multipart framing an upload's Content-Length may hold beyond the file (the rest is a lower bound of the file's size). */
const MULTIPART_SLACK = 64 * 1024;
/** `name` inside the server directory `dir`, joined as text: the agent's jail refuses `..` rather than have it normalised away here. */
function inDirectory(dir: string, name: string): string {
  return `${dir.replace(/\/+$/, '')}/${name}`;
}

/** The file name of an uploaded part: its base name, never a path (the agent's jail checks it again). */
function uploadName(part: UploadPart): string {
  const name = (part.originalname ?? '').split(/[\\/]/).pop() ?? '';
  if (!name || name === '.' || name === '..' || name.includes('\0') || Buffer.byteLength(name) > MAX_NAME_BYTES) {
    throw new ValidationError('The file part needs a file name (at most 255 bytes, no path)', [{ path: 'file', message: 'bad file name' }]);
  }
  return name;
}

/** A commit renames one file; opening makes one. */
const VERB_TIMEOUT_MS = 30_000;

/**
 * Streamed transfers of server files (issue 11): `GET download`, `POST upload` (multipart, progress
 * over socket.io), `POST import` (a file of the caller's VFS into a server directory) and `POST
 * export` (a server file into the caller's VFS). The nodes service opens each transfer on the
 * server's agent (and records a finished upload); the bytes go between this gateway and that agent
 * in chunks (AgentTransfers), never whole in memory; VFS files stream through the chunk store.
 */
@ApiTags('server files')
@Controller('servers/:id/files')
export class ServerFileTransfersController {
  constructor(
    private readonly commands: CommandClient,
    @Inject(AgentTransfers) private readonly transfers: AgentTransfers,
    private readonly moduleRef: ModuleRef,
  ) {}

  /** The server, with every action checked (hidden 404, missing permission 403). */
  private async server(id: string, actions: ServerAction[], meta: CommandMeta, p: Principal): Promise<ServerView> {
    const server = await this.commands.send<ServerView>('nodes', 'get_server', { id }, meta);
    for (const action of actions) assertCanControl(p, server, action);
    return server;
  }

  private verb<T>(id: string, verb: 'open_read' | 'open_write' | 'commit_write', args: object, meta: CommandMeta): Promise<T> {
    return this.commands.send<T>('nodes', 'server_files', { id, verb, args }, meta, { timeoutMs: VERB_TIMEOUT_MS });
  }

  /** The socket.io server, when the realtime feature runs in this gateway. */
  private io(): Server | undefined {
    try {
      return this.moduleRef.get(RealtimeServer, { strict: false }).server();
    } catch {
      return undefined;
    }
  }

  /**
   * Opens a write transfer at `path`, sends `source`, commits: `{ path, size }`. A refusal (the disk
   * limit) or a failure aborts the transfer on the agent: nothing partial stays.
   */
  private async send(
    id: string,
    path: string,
    source: AsyncIterable<Buffer | Uint8Array | string>,
    expectedBytes: number | undefined,
    meta: CommandMeta,
    progress: TransferProgress,
  ): Promise<ServerFileWritten> {
    const opened = await this.verb<ServerFileWriteTransfer>(id, 'open_write', { path, ...(expectedBytes !== undefined ? { expected_bytes: expectedBytes } : {}) }, meta);
    try {
      const size = await this.transfers.write(opened, source, (bytes) => progress.update(bytes));
      await this.verb(id, 'commit_write', { path, transfer: opened.transfer, size }, meta);
      progress.done(size);
      return { path, size };
    } catch (error) {
      await this.transfers.close(opened).catch(() => undefined);
      throw error;
    }
  }

  /** A file's bytes, streamed (Content-Length, Content-Disposition); never whole in the gateway or the agent. */
  @Authenticated()
  @Get('download')
  async download(@Param('id', UuidParam) id: string, @Query() query: PathQuery, @Req() req: Request, @Res() res: Response, @CurrentPrincipal() p: Principal): Promise<void> {
    const meta = commandMeta(req, p);
    await this.server(id, ['files.read'], meta, p);
    const opened = await this.verb<ServerFileReadTransfer>(id, 'open_read', { path: query.path }, meta);
    res.status(200);
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Content-Length', String(opened.size));
    res.setHeader('Content-Disposition', contentDisposition(opened.name));
    res.setHeader('Last-Modified', new Date(opened.modified).toUTCString());
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'private, no-cache');
    if (opened.size === 0) {
      await this.transfers.close(opened).catch(() => undefined);
      return void res.end();
    }
    try {
      await pipeline(Readable.from(this.transfers.read(opened)), res);
    } catch {
      // Headers are out: the client sees a cut body (Content-Length tells it). The generator closed the transfer.
      res.destroy();
    }
  }

  /**
   * `multipart/form-data` with one `file` part, written into the directory `path` under the part's
   * file name (replacing a file of that name). `socket_id` (one of the caller's socket.io
   * connections) and `upload_id` get `server_files.progress` messages.
   */
  @Authenticated()
  @Post('upload')
  @HttpCode(200)
  async upload(@Param('id', UuidParam) id: string, @Query() query: UploadQuery, @Req() req: Request, @Res({ passthrough: true }) res: Response, @CurrentPrincipal() p: Principal) {
    const meta = commandMeta(req, p);
    // Permission first: a refused caller's body is never read.
    await this.server(id, ['files.write'], meta, p);
    const declared = Number(req.headers['content-length']);
    const expected = Number.isSafeInteger(declared) && declared > MULTIPART_SLACK ? declared - MULTIPART_SLACK : undefined;
    return receiveUpload(req, res, async (part) => {
      if (part.fieldname !== 'file') throw new ValidationError(`Unexpected file part "${part.fieldname}"; name it "file"`, [{ path: part.fieldname, message: 'unexpected' }]);
      const path = inDirectory(query.path, uploadName(part));
      const progress = await TransferProgress.to(this.io(), p, query.socket_id, {
        upload_id: query.upload_id ?? meta.correlationId ?? path,
        server_id: id,
        op: 'upload',
        path,
        ...(Number.isSafeInteger(declared) ? { total: declared } : {}),
      });
      try {
        return await this.send(id, path, part.stream, expected, meta, progress);
      } catch (error) {
        // Read the rest of the part so the client gets the answer rather than a reset connection.
        part.stream.resume();
        throw error;
      }
    });
  }

  /** `{ vfs_path, to }`: a file of the caller's VFS into the server directory `to` (same name; replaces). files.write on the server, files.read for the VFS. */
  @Authenticated()
  @Post('import')
  @HttpCode(200)
  async import(@Param('id', UuidParam) id: string, @Body() body: ImportDto, @Query() query: UploadQuery, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    const meta = commandMeta(req, p);
    await this.server(id, ['files.write'], meta, p);
    if (!hasPermission(p, 'files.read')) throw new ForbiddenError('Importing from your files needs files.read', { missing: ['files.read'] });
    // Scoped to the caller: another user's path does not exist for them (404).
    const content = await this.commands.send<FileContent>('files', 'content', { user_id: p.userId, path: normalizeVfsPath(body.vfs_path) }, meta);
    const path = inDirectory(body.to, content.name);
    const progress = await TransferProgress.to(this.io(), p, query.socket_id, { upload_id: query.upload_id ?? meta.correlationId ?? path, server_id: id, op: 'import', path, total: content.size });
    const store = await this.moduleRef.get(GatewayChunkStore, { strict: false }).get();
    return this.send(id, path, readChunks(store, content.chunks), content.size, meta, progress);
  }

  /** `{ path, vfs_path }`: a server file into the caller's VFS (replacing a file there), counted against the caller's quota (413 QUOTA_EXCEEDED stores nothing). */
  @Authenticated()
  @Post('export')
  @HttpCode(200)
  async export(@Param('id', UuidParam) id: string, @Body() body: ExportDto, @Query() query: UploadQuery, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    const meta = commandMeta(req, p);
    await this.server(id, ['files.read'], meta, p);
    if (!hasPermission(p, 'files.write')) throw new ForbiddenError('Exporting into your files needs files.write', { missing: ['files.write'] });
    const vfsPath = normalizeVfsPath(body.vfs_path);
    const chunks = this.moduleRef.get(GatewayChunkStore, { strict: false });
    const opened = await this.verb<ServerFileReadTransfer>(id, 'open_read', { path: body.path }, meta);
    try {
      const progress = await TransferProgress.to(this.io(), p, query.socket_id, { upload_id: query.upload_id ?? meta.correlationId ?? vfsPath, server_id: id, op: 'export', path: body.path, total: opened.size });
      let moved = 0;
      const counted = async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          moved += chunk.length;
          progress.update(moved);
          yield chunk;
        }
      };
      const stored = await storeInVfs<VfsFileView>(this.commands, chunks, meta, { userId: p.userId, path: vfsPath, name: baseName(vfsPath) }, Readable.from(counted(this.transfers.read(opened))), opened.size);
      progress.done(opened.size);
      return stored;
    } finally {
      // A store refused before it read anything (the quota) never started the reader, which closes it otherwise.
      await this.transfers.close(opened).catch(() => undefined);
    }
  }
}
