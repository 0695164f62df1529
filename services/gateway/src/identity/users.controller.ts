import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Put, Query, Req, Res, UploadedFile, UseInterceptors } from '@nestjs/common';
import { FileInterceptor } from '@nestjs/platform-express';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { fromBuffer } from 'file-type';
import { memoryStorage } from 'multer';
import { AuthVerbs, BUILT_IN_ROLE_IDS, DomainError, ForbiddenError, NotFoundError, UsersVerbs, ValidationError, type Page, type PictureReply, type SshKeyView, type UserView } from '@encedeus/contracts';
import { assertCanGrant, assertCanManageUser, resolveRoleRef } from './grant-guard';
import { Authenticated, CurrentPrincipal, RequirePermission, type Principal } from '@encedeus/security';
import { commandMeta, etag } from '../common/request-meta';
import { assertUuid as assertUuidParam } from '../common/uuid-param';
import { AddSshKeyDto, CreateUserDto, ListUsersQuery, UpdateSelfDto, UpdateUserDto } from './identity.dto';
import { IdentityProjection } from './identity.projection';
import { IdentityWrites } from './identity-writes';

/** Largest profile picture (issue #3: 2 MiB). */
export const MAX_PICTURE_BYTES = 2 * 1024 * 1024;
const PICTURE_TYPES = ['image/png', 'image/jpeg', 'image/webp'];
const pictureUpload = FileInterceptor('file', { storage: memoryStorage(), limits: { fileSize: MAX_PICTURE_BYTES, files: 1 } });

/** Ids in paths are UUIDs; anything else is 422, as on every gateway route (common/uuid-param). */
export function assertUuid(id: string, _what: string): string {
  return assertUuidParam(id, 'id');
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

  /**
   * A new password, email or two-step setting needs the current password and a signed-in person:
   * an API key never changes its owner's credentials or two-step setting. A new password ends
   * every other session.
   */
  @Authenticated()
  @Patch('me')
  async updateMe(@Body() body: UpdateSelfDto, @Req() req: Request, @CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) res: Response) {
    const { current_password: currentPassword, ...changes } = body;
    await this.assertOwnChange(changes, currentPassword, req, principal);
    const keepSessionId = changes.password !== undefined ? principal.sessionId : undefined;
    return this.write(UsersVerbs.update, { ...changes, id: principal.userId, keepSessionId }, req, principal, res);
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

  /**
   * Registers an SSH public key for SFTP logins (`{ name, public_key }`, an OpenSSH line): 201 with
   * `{ id, name, algorithm, fingerprint, public_key, created_at }`; private keys and garbage 422, a key
   * already registered 409. A credential like a password: an API key cannot add or remove one.
   */
  @Authenticated()
  @Post('me/ssh-keys')
  @HttpCode(201)
  addSshKey(@Body() body: AddSshKeyDto, @Req() req: Request, @CurrentPrincipal() principal: Principal): Promise<SshKeyView> {
    this.assertSignedIn(principal, 'add SSH keys');
    return this.writes.send<SshKeyView>('users', UsersVerbs.sshKeyAdd, { ...body, id: principal.userId }, commandMeta(req, principal));
  }

  @Authenticated()
  @Get('me/ssh-keys')
  sshKeys(@Req() req: Request, @CurrentPrincipal() principal: Principal): Promise<SshKeyView[]> {
    return this.writes.query<SshKeyView[]>('users', UsersVerbs.sshKeyList, { id: principal.userId }, commandMeta(req, principal));
  }

  @Authenticated()
  @Delete('me/ssh-keys/:keyId')
  @HttpCode(204)
  async removeSshKey(@Param('keyId') keyId: string, @Req() req: Request, @CurrentPrincipal() principal: Principal): Promise<void> {
    this.assertSignedIn(principal, 'remove SSH keys');
    await this.writes.send('users', UsersVerbs.sshKeyRemove, { id: principal.userId, keyId: assertUuidParam(keyId, 'keyId') }, commandMeta(req, principal));
  }

  private assertSignedIn(principal: Principal, what: string): void {
    if (principal.kind === 'apikey') throw new ForbiddenError(`An API key cannot ${what} for its owner`);
  }

  @RequirePermission('users.read')
  @Get(':uuid')
  get(@Param('uuid') id: string, @Res({ passthrough: true }) res: Response) {
    return this.view(assertUuid(id, 'User'), res);
  }

  @RequirePermission('users.manage')
  @Post()
  async create(@Body() body: CreateUserDto, @Req() req: Request, @CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) res: Response) {
    const { role_id: _roleId, role_name: _roleName, ...fields } = body;
    // With no role named the user gets the default role, which is granted like any other (issue #8 follow-up).
    const role = resolveRoleRef(this.projection, body) ?? this.projection.roles.get(BUILT_IN_ROLE_IDS.user);
    if (!role) throw new DomainError('SERVICE_UNAVAILABLE', 'The default role is not known yet; try again');
    assertCanGrant(principal, role.permissions);
    const meta = { ...commandMeta(req, principal), expectedVersion: undefined };
    const user = await this.writes.send<UserView>('users', UsersVerbs.create, { ...fields, role_id: role.id }, meta);
    res.setHeader('ETag', etag(user.version));
    res.setHeader('Location', `/api/v1/users/${user.id}`);
    return user;
  }

  @RequirePermission('users.manage')
  @Patch(':uuid')
  async update(@Param('uuid') id: string, @Body() body: UpdateUserDto, @Req() req: Request, @CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) res: Response) {
    const userId = assertUuid(id, 'User');
    assertCanManageUser(principal, this.projection, userId);
    const { current_password: currentPassword, role_id: _roleId, role_name: _roleName, ...changes } = body;
    const role = resolveRoleRef(this.projection, body);
    if (role) assertCanGrant(principal, role.permissions);
    // Your own id here is `/users/me` by another path: the same rules (issue #8 follow-up).
    const own = userId === principal.userId;
    if (own) await this.assertOwnChange({ ...changes, role: role?.id }, currentPassword, req, principal);
    const keepSessionId = own && changes.password !== undefined ? principal.sessionId : undefined;
    return this.write(UsersVerbs.update, { ...changes, ...(role ? { role_id: role.id } : {}), id: userId, keepSessionId }, req, principal, res);
  }

  @RequirePermission('users.manage')
  @Delete(':uuid')
  @HttpCode(204)
  async delete(@Param('uuid') id: string, @Req() req: Request, @CurrentPrincipal() principal: Principal): Promise<void> {
    assertCanManageUser(principal, this.projection, assertUuid(id, 'User'));
    if (id === principal.userId && principal.kind === 'apikey') throw new ForbiddenError('An API key cannot delete its owner');
    await this.writes.send('users', UsersVerbs.delete, { id }, commandMeta(req, principal));
  }

  @RequirePermission('users.manage')
  @Put(':uuid/pfp')
  @UseInterceptors(pictureUpload)
  setUserPicture(@Param('uuid') id: string, @UploadedFile() file: Express.Multer.File | undefined, @Req() req: Request, @CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) res: Response) {
    assertCanManageUser(principal, this.projection, assertUuid(id, 'User'));
    return this.setPicture(id, file, req, principal, res);
  }

  /** Pictures are shown beside names everywhere, so any signed-in caller may fetch one. */
  @Authenticated()
  @Get(':uuid/pfp')
  picture(@Param('uuid') id: string, @Req() req: Request, @CurrentPrincipal() principal: Principal, @Res() res: Response) {
    return this.sendPicture(assertUuid(id, 'User'), req, principal, res);
  }

  /**
   * The rules of changing yourself (`/users/me`, or `/users/:id` on your own id): an API key never
   * changes its owner's password, email, two-step setting, disabled flag or roles (403); a person
   * gives the current password for a new password, email or two-step setting (422 without, 403 when
   * wrong, counted by the login limiter).
   */
  private async assertOwnChange(
    changes: { password?: string; email?: string; otpEnabled?: boolean; disabled?: boolean; role?: string },
    currentPassword: string | undefined,
    req: Request,
    principal: Principal,
  ): Promise<void> {
    const credentials = changes.password !== undefined || changes.email !== undefined || changes.otpEnabled !== undefined;
    if (principal.kind === 'apikey' && (credentials || changes.disabled !== undefined || changes.role !== undefined)) {
      throw new ForbiddenError('An API key cannot change the password, email, two-step login, disabled flag or roles of its owner');
    }
    if (credentials && currentPassword === undefined) {
      throw new ValidationError('The current password is required to change the password, the email or two-step login', [{ path: 'current_password', message: 'required' }]);
    }
    if (currentPassword !== undefined) {
      await this.writes.query('auth', AuthVerbs.checkPassword, { userId: principal.userId, password: currentPassword, ip: req.ip }, commandMeta(req, principal));
    }
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
