import { inject } from '@angular/core';
import { CanActivateFn, RedirectCommand, Router } from '@angular/router';
import { Auth } from './auth';

/** Lets signed-in users through once `/auth/me` is known; everyone else goes to the login page. */
export const signedIn: CanActivateFn = async (_route, state) => {
  const auth = inject(Auth);
  const router = inject(Router);
  if (!auth.signedIn()) return router.createUrlTree(['/login'], { queryParams: { returnUrl: state.url } });
  try {
    await auth.ensureMe();
    return true;
  } catch {
    // A failed refresh already ended the session; anything else (server down) should not strand the user.
    return auth.signedIn() ? router.createUrlTree(['/unavailable']) : router.createUrlTree(['/login']);
  }
};

/** Route guard: the user must hold `permission`, otherwise the 403 page is shown. */
export function requires(permission: string): CanActivateFn {
  return async () => {
    const auth = inject(Auth);
    const router = inject(Router);
    try {
      await auth.ensureMe();
    } catch {
      return router.createUrlTree(['/login']);
    }
    // Keep the forced URL in the address bar and show the 403 page in its place.
    return auth.can(permission) ? true : new RedirectCommand(router.parseUrl('/forbidden'), { skipLocationChange: true });
  };
}

/** The login page is for signed-out users only. */
export const signedOut: CanActivateFn = () => {
  const auth = inject(Auth);
  return auth.signedIn() ? inject(Router).createUrlTree(['/']) : true;
};
