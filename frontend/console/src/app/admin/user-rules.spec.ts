import { disableConfirmation, needsCurrentPassword } from './user-rules';

describe('needsCurrentPassword', () => {
  const user = { email: 'admin@example.com' };

  it('asks for it when the email changes', () => {
    expect(needsCurrentPassword(user, { email: 'new@example.com', password: '' })).toBe(true);
  });

  it('asks for it when a new password is typed', () => {
    expect(needsCurrentPassword(user, { email: user.email, password: 'Secret-123' })).toBe(true);
  });

  it('does not ask for a change of name, role or disabled only', () => {
    expect(needsCurrentPassword(user, { email: user.email, password: '' })).toBe(false);
  });
});

describe('disableConfirmation', () => {
  it('names the user and says what disabling does', () => {
    const ask = disableConfirmation({ name: 'alice' });

    expect(ask).toMatchObject({ title: 'Disable alice?', action: 'Disable' });
    expect(ask.message).toContain('signed out everywhere');
  });
});
