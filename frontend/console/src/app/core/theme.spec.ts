import { TestBed } from '@angular/core/testing';
import { Theme } from './theme';

describe('Theme', () => {
  beforeEach(() => {
    localStorage.removeItem('encedeus.theme');
    document.documentElement.style.colorScheme = '';
    TestBed.resetTestingModule();
  });

  it('follows the system until a choice is made, then pins <html> to it and remembers it', () => {
    const theme = TestBed.inject(Theme);
    expect(theme.choice()).toBe('system');
    expect(document.documentElement.style.colorScheme).toBe('');

    theme.set('dark');

    expect(document.documentElement.style.colorScheme).toBe('dark');
    expect(localStorage.getItem('encedeus.theme')).toBe('dark');
    expect(theme.effective()).toBe('dark');
  });

  it('toggles to the other scheme of the one on screen, and back to the system on request', () => {
    const theme = TestBed.inject(Theme);
    theme.set('light');
    theme.toggle();
    expect(theme.choice()).toBe('dark');
    theme.toggle();
    expect(theme.choice()).toBe('light');

    theme.set('system');

    expect(localStorage.getItem('encedeus.theme')).toBeNull();
    expect(document.documentElement.style.colorScheme).toBe('');
  });

  it('starts from the stored choice and ignores anything else stored', () => {
    localStorage.setItem('encedeus.theme', 'dark');
    expect(TestBed.inject(Theme).choice()).toBe('dark');
    TestBed.resetTestingModule();
    localStorage.setItem('encedeus.theme', '<script>');
    expect(TestBed.inject(Theme).choice()).toBe('system');
  });
});
