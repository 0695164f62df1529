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
