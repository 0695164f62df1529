import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { text } from '@encedeus/contracts';
import {
  addSshKeyBodySchema,
  createApiKeyBodySchema,
  createRoleBodySchema,
  createServiceAccountBodySchema,
  createUserBodySchema,
  listUsersQuerySchema,
  loginBodySchema,
  otpVerifyBodySchema,
  pageQuerySchema,
  registerInitBodySchema,
  updateRoleBodySchema,
  updateSelfBodySchema,
  updateUserBodySchema,
} from '@encedeus/contracts';

export class AddSshKeyDto extends createZodDto(addSshKeyBodySchema) {}
export class LoginDto extends createZodDto(loginBodySchema) {}
export class OtpVerifyDto extends createZodDto(otpVerifyBodySchema) {}
export class RegisterInitDto extends createZodDto(registerInitBodySchema) {}
export class LogoutDto extends createZodDto(z.object({ refreshToken: text().max(500).optional() }).optional().default({})) {}
export class CreateUserDto extends createZodDto(createUserBodySchema) {}
export class UpdateUserDto extends createZodDto(updateUserBodySchema) {}
export class UpdateSelfDto extends createZodDto(updateSelfBodySchema) {}
export class ListUsersQuery extends createZodDto(listUsersQuerySchema) {}
export class PageQuery extends createZodDto(pageQuerySchema) {}
export class CreateRoleDto extends createZodDto(createRoleBodySchema) {}
export class UpdateRoleDto extends createZodDto(updateRoleBodySchema) {}
export class DeleteRoleQuery extends createZodDto(z.object({ force: z.enum(['', 'true', 'false', '1', '0']).optional() })) {}
export class CreateServiceAccountDto extends createZodDto(createServiceAccountBodySchema) {}
export class CreateApiKeyDto extends createZodDto(createApiKeyBodySchema) {}
