import { Controller, Get } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { ALL_PERMISSIONS, permissionArea, PERMISSIONS } from '@encedeus/contracts';
import { Authenticated } from '@encedeus/security';

/** `GET /api/v1/permissions`: every permission string, for role and key pickers. */
@ApiTags('roles')
@Controller('permissions')
export class PermissionsController {
  @Authenticated()
  @Get()
  list() {
    return ALL_PERMISSIONS.map((name) => ({ name, description: PERMISSIONS[name], area: permissionArea(name) }));
  }
}
