import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Put, Query, Req, Res, UploadedFile, UseInterceptors } from '@nestjs/common';
import { FileInterceptor } from '@nestjs/platform-express';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { fromBuffer } from 'file-type';
import { memoryStorage } from 'multer';
import { z } from 'zod';
import { DomainError, NotFoundError, UsersVerbs, ValidationError, type Page, type PictureReply, type UserView } from '@encedeus/contracts';
import { assertCanGrant, permissionsOfRoleRef } from './grant-guard';
import { Authenticated, CurrentPrincipal, RequirePermission, type Principal } from '@encedeus/security';
import { commandMeta, etag } from '../common/request-meta';
import { CreateUserDto, ListUsersQuery, UpdateSelfDto, UpdateUserDto } from './identity.dto';
import { IdentityProjection } from './identity.projection';
import { IdentityWrites } from './identity-writes';

/** Largest profile picture (issue #3: 2 MiB). */
export const MAX_PICTURE_BYTES = 2 * 1024 * 1024;
const PICTURE_TYPES = ['image/png', 'image/jpeg', 'image/webp'];
const pictureUpload = FileInterceptor('file', { storage: memoryStorage(), limits: { fileSize: MAX_PICTURE_BYTES, files: 1 } });

export function assertUuid(id: string, what: string): string {
  if (!z.uuid().safeParse(id).success) throw new NotFoundError(what, id);
  return id;
}

/** `/api/v1/users`: admin routes need users.*; `/users/me…` lets everyone manage themselves. */
@ApiTags('users')
@Controller('users')
export class UsersController {
  constructor(private readonly writes: IdentityWrites, private readonly projection: IdentityProjection) {}

  @RequirePermission('users.read')
  @Get()
  list(@Query() query: ListUsersQuery, @Req() req: Request, @CurrentPrincipal() principal: Principal) {
    return this.writes.query<Page<UserView>>('users', UsersVerbs.list, query, commandMeta(req, principal));
  }

  @Authenticated()
  @Get('me')
  me(@CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) res: Response) {
    return this.view(principal.userId, res);
  }

  @Authenticated()
  @Patch('me')
  updateMe(@Body() body: UpdateSelfDto, @Req() req: Request, @CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) res: Response) {
    return this.write(UsersVerbs.update, { ...body, id: principal.userId }, req, principal, res);
  }

  @Authenticated()
  @Put('me/pfp')
  @UseInterceptors(pictureUpload)
  setMyPicture(@UploadedFile() file: Express.Multer.File | undefined, @Req() req: Request, @CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) res: Response) {
    return this.setPicture(principal.userId, file, req, principal, res);
  }

  @Authenticated()
  @Get('me/pfp')
  myPicture(@CurrentPrincipal() principal: Principal, @Req() req: Request, @Res() res: Response) {
    return this.sendPicture(principal.userId, req, principal, res);
  }

  @RequirePermission('users.read')
  @Get(':uuid')
  get(@Param('uuid') id: string, @Res({ passthrough: true }) res: Response) {
    return this.view(assertUuid(id, 'User'), res);
  }

  @RequirePermission('users.manage')
  @Post()
  async create(@Body() body: CreateUserDto, @Req() req: Request, @CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) res: Response) {
    assertCanGrant(principal, permissionsOfRoleRef(this.projection, body));
    const meta = { ...commandMeta(req, principal), expectedVersion: undefined };
    const user = await this.writes.send<UserView>('users', UsersVerbs.create, body, meta);
    res.setHeader('ETag', etag(user.version));
    res.setHeader('Location', `/api/v1/users/${user.id}`);
    return user;
  }

  @RequirePermission('users.manage')
  @Patch(':uuid')
  update(@Param('uuid') id: string, @Body() body: UpdateUserDto, @Req() req: Request, @CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) res: Response) {
    assertCanGrant(principal, permissionsOfRoleRef(this.projection, body));
    return this.write(UsersVerbs.update, { ...body, id: assertUuid(id, 'User') }, req, principal, res);
  }

  @RequirePermission('users.manage')
  @Delete(':uuid')
  @HttpCode(204)
  async delete(@Param('uuid') id: string, @Req() req: Request, @CurrentPrincipal() principal: Principal): Promise<void> {
    await this.writes.send('users', UsersVerbs.delete, { id: assertUuid(id, 'User') }, commandMeta(req, principal));
  }

  @RequirePermission('users.manage')
  @Put(':uuid/pfp')
  @UseInterceptors(pictureUpload)
  setUserPicture(@Param('uuid') id: string, @UploadedFile() file: Express.Multer.File | undefined, @Req() req: Request, @CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) res: Response) {
    return this.setPicture(assertUuid(id, 'User'), file, req, principal, res);
  }

  /** Pictures are shown beside names everywhere, so any signed-in caller may fetch one. */
  @Authenticated()
  @Get(':uuid/pfp')
  picture(@Param('uuid') id: string, @Req() req: Request, @CurrentPrincipal() principal: Principal, @Res() res: Response) {
    return this.sendPicture(assertUuid(id, 'User'), req, principal, res);
  }

  private view(id: string, res: Response): UserView {
    const user = this.projection.users.get(id);
    if (!user) throw new NotFoundError('User', id);
    res.setHeader('ETag', etag(user.version));
    return this.projection.userView(user);
  }

  private async write(verb: string, data: unknown, req: Request, principal: Principal, res: Response): Promise<UserView> {
    const user = await this.writes.send<UserView>('users', verb, data, commandMeta(req, principal));
    res.setHeader('ETag', etag(user.version));
    return user;
  }

  private async setPicture(id: string, file: Express.Multer.File | undefined, req: Request, principal: Principal, res: Response): Promise<UserView> {
    if (!file) throw new ValidationError('Send the picture as multipart field "file"', [{ path: 'file', message: 'required' }]);
    // Trust the bytes, not the declared type.
    const sniffed = await fromBuffer(file.buffer);
    if (!sniffed || !PICTURE_TYPES.includes(sniffed.mime)) {
      throw new DomainError('UNSUPPORTED_MEDIA_TYPE', 'A profile picture must be a PNG, JPEG or WebP image', { accepted: PICTURE_TYPES });
    }
    return this.write(UsersVerbs.setPicture, { id, contentType: sniffed.mime, base64: file.buffer.toString('base64') }, req, principal, res);
  }

  private async sendPicture(id: string, req: Request, principal: Principal, res: Response): Promise<void> {
    const picture = await this.writes.query<PictureReply>('users', UsersVerbs.getPicture, { id }, commandMeta(req, principal));
    const bytes = Buffer.from(picture.base64, 'base64');
    res.status(200).setHeader('Content-Type', picture.contentType);
    res.setHeader('Cache-Control', 'private, no-cache');
    res.setHeader('Content-Length', String(bytes.length));
    res.end(bytes);
  }
}
