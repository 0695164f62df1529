/** What the user dialog compares: the stored email, and the form's email and new password. */
export interface CredentialChange {
  email?: string;
  password?: string;
}

/**
 * Whether an edit of your own account touches credentials, so the API asks for the current
 * password (`current_password`, PATCH /users/:id and /users/me): a new email or a new password.
 */
export function needsCurrentPassword(user: { email: string }, form: CredentialChange): boolean {
  return (form.email !== undefined && form.email !== user.email) || !!form.password;
}

/**
 * What the console asks before disabling a user, from the edit dialog or the list's quick toggle
 * (issue 14: disabling signs the user out everywhere and stops their API keys, so it is confirmed).
 */
export function disableConfirmation(user: { name: string }): { title: string; message: string; action: string } {
  return {
    title: `Disable ${user.name}?`,
    message: `${user.name} is signed out everywhere and can no longer sign in; their API keys stop working until you enable them again.`,
    action: 'Disable',
  };
}
