import { Body, Controller, Get, HttpCode, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { createZodDto } from 'nestjs-zod';
import {
  chmodServerFileSchema,
  compressServerFilesSchema,
  copyServerFileSchema,
  decompressServerFileSchema,
  deleteServerFilesSchema,
  DomainError,
  listServerFilesSchema,
  mkdirServerFileSchema,
  renameServerFileSchema,
  SERVER_FILE_TEXT_MAX_BYTES,
  serverFilePathQuerySchema,
  type Page,
  type ServerAction,
  type ServerDirectoryCreated,
  type ServerFileContents,
  type ServerFileEntry,
  type ServerFileModeChanged,
  type ServerFileRenamed,
  type ServerFileVerb,
  type ServerView,
} from '@encedeus/contracts';
import { CommandClient } from '@encedeus/messaging';
import { Authenticated, CurrentPrincipal, type Principal } from '@encedeus/security';
import { commandMeta } from '../common/request-meta';
import { UuidParam } from '../common/uuid-param';
import { assertCanControl } from './fleet-access';

class ListQuery extends createZodDto(listServerFilesSchema) {}
class PathQuery extends createZodDto(serverFilePathQuerySchema) {}
class RenameDto extends createZodDto(renameServerFileSchema) {}
class CopyDto extends createZodDto(copyServerFileSchema) {}
class DeleteDto extends createZodDto(deleteServerFilesSchema) {}
class MkdirDto extends createZodDto(mkdirServerFileSchema) {}
class ChmodDto extends createZodDto(chmodServerFileSchema) {}
class CompressDto extends createZodDto(compressServerFilesSchema) {}
class DecompressDto extends createZodDto(decompressServerFileSchema) {}

/** Archives walk whole trees on the agent. */
const LONG_MS = 310_000;

/** Reads a raw request body up to `max` bytes; more is 413 (the declared length is checked first). */
async function rawBody(req: Request, max: number): Promise<Buffer> {
  const tooLarge = () => new DomainError('PAYLOAD_TOO_LARGE', `The body is larger than ${max} bytes; use upload for large files`, { max });
  if (Number(req.headers['content-length'] ?? 0) > max) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      req.unpipe();
      req.resume();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * The server file manager (issue 11), `/servers/:id/files/…`: contracts' canControlServer with the
 * `files.*` actions (hidden servers 404, a missing permission 403), then `cmd.nodes.server_files`,
 * which asks the server's agent (`agent.<nodeId>.cmd.fs.<verb>`); the agent's jail resolves paths.
 */
@ApiTags('server files')
@Controller('servers/:id/files')
export class ServerFilesController {
  constructor(private readonly commands: CommandClient) {}

  private async call<T>(id: string, action: ServerAction | ServerAction[], verb: ServerFileVerb, args: object, req: Request, p: Principal, timeoutMs = 30_000): Promise<T> {
    const meta = commandMeta(req, p);
    const server = await this.commands.send<ServerView>('nodes', 'get_server', { id }, meta);
    for (const a of Array.isArray(action) ? action : [action]) assertCanControl(p, server, a);
    return this.commands.send<T>('nodes', 'server_files', { id, verb, args }, meta, { timeoutMs });
  }

  /** One page of a directory, sorted by name: `{ items: [{ name, type, size, mode, modified }], nextCursor }`. */
  @Authenticated()
  @Get('list')
  list(@Param('id', UuidParam) id: string, @Query() query: ListQuery, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.call<Page<ServerFileEntry>>(id, 'files.read', 'list', query, req, p);
  }

  /** A file's bytes as `text/plain` (at most SERVER_FILE_TEXT_MAX_BYTES; larger is 413). */
  @Authenticated()
  @Get('contents')
  async contents(@Param('id', UuidParam) id: string, @Query() query: PathQuery, @Req() req: Request, @CurrentPrincipal() p: Principal, @Res() res: Response): Promise<void> {
    const file = await this.call<ServerFileContents>(id, 'files.read', 'contents', query, req, p);
    res.status(200).type('text/plain; charset=utf-8').setHeader('X-Content-Type-Options', 'nosniff');
    res.send(Buffer.from(file.data, 'base64'));
  }

  /** Creates or replaces a file with the raw request body (any content type; at most SERVER_FILE_TEXT_MAX_BYTES). */
  @Authenticated()
  @Put('write')
  @HttpCode(200)
  async write(@Param('id', UuidParam) id: string, @Query() query: PathQuery, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    const meta = commandMeta(req, p);
    // Permission first: a refused caller's body is never read into memory.
    assertCanControl(p, await this.commands.send<ServerView>('nodes', 'get_server', { id }, meta), 'files.write');
    const body = await rawBody(req, SERVER_FILE_TEXT_MAX_BYTES);
    return this.commands.send<{ size: number }>('nodes', 'server_files', { id, verb: 'write', args: { path: query.path, data: body.toString('base64') } }, meta, { timeoutMs: 30_000 });
  }

  @Authenticated()
  @Post('rename')
  @HttpCode(200)
  rename(@Param('id', UuidParam) id: string, @Body() body: RenameDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.call<ServerFileRenamed>(id, 'files.write', 'rename', body, req, p);
  }

  /** Copies a file beside itself (`a copy.txt`); answers `{ name }`. */
  @Authenticated()
  @Post('copy')
  @HttpCode(200)
  copy(@Param('id', UuidParam) id: string, @Body() body: CopyDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.call<{ name: string }>(id, 'files.write', 'copy', body, req, p, 130_000);
  }

  /** Deletes files and directories (with their contents); missing paths are skipped: `{ deleted }`. */
  @Authenticated()
  @Post('delete')
  @HttpCode(200)
  remove(@Param('id', UuidParam) id: string, @Body() body: DeleteDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.call<{ deleted: number }>(id, 'files.delete', 'delete', body, req, p, 130_000);
  }

  @Authenticated()
  @Post('mkdir')
  @HttpCode(201)
  mkdir(@Param('id', UuidParam) id: string, @Body() body: MkdirDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.call<ServerDirectoryCreated>(id, 'files.write', 'mkdir', body, req, p);
  }

  /** Permission bits only (`"755"` or 0o755); setuid, setgid and sticky are 422. */
  @Authenticated()
  @Post('chmod')
  @HttpCode(200)
  chmod(@Param('id', UuidParam) id: string, @Body() body: ChmodDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.call<ServerFileModeChanged>(id, 'files.write', 'chmod', body, req, p);
  }

  /** A tar.gz of paths in one directory, written there: `{ name }` (its path). Needs files.archive and files.write. */
  @Authenticated()
  @Post('compress')
  @HttpCode(200)
  compress(@Param('id', UuidParam) id: string, @Body() body: CompressDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.call<{ name: string }>(id, ['files.archive', 'files.write'], 'compress', body, req, p, LONG_MS);
  }

  /** Extracts a .tar.gz/.tar beside itself (files.archive and files.write); an archive with an entry that would leave the server's directory is refused whole (400). */
  @Authenticated()
  @Post('decompress')
  @HttpCode(200)
  decompress(@Param('id', UuidParam) id: string, @Body() body: DecompressDto, @Req() req: Request, @CurrentPrincipal() p: Principal) {
    return this.call<{ entries: number }>(id, ['files.archive', 'files.write'], 'decompress', body, req, p, LONG_MS);
  }
}
