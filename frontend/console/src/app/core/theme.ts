import { DOCUMENT } from '@angular/common';
import { Injectable, inject, signal } from '@angular/core';

/** The console's colour scheme: the system's (default), or one the user picked (kept in this browser). */
export type ThemeChoice = 'system' | 'light' | 'dark';

const STORAGE_KEY = 'encedeus.theme';

/**
 * Dark/light toggle (issue 14). The Material 3 theme in styles.scss follows `color-scheme` on <html>
 * (`light dark`: the system's); a choice pins it to one. Stored in localStorage and applied when the
 * root component starts (the login page included).
 */
@Injectable({ providedIn: 'root' })
export class Theme {
  private readonly document = inject(DOCUMENT);
  readonly choice = signal<ThemeChoice>(readChoice());

  constructor() {
    this.apply(this.choice());
  }

  /** The scheme on screen now: the choice, or the system's for `system`. */
  effective(): 'light' | 'dark' {
    const choice = this.choice();
    if (choice !== 'system') return choice;
    return this.document.defaultView?.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  }

  /** Flips to the other scheme of the one on screen, and remembers it. */
  toggle(): void {
    this.set(this.effective() === 'dark' ? 'light' : 'dark');
  }

  set(choice: ThemeChoice): void {
    this.choice.set(choice);
    try {
      if (choice === 'system') localStorage.removeItem(STORAGE_KEY);
      else localStorage.setItem(STORAGE_KEY, choice);
    } catch {
      // Storage refused (private mode): the choice lasts for this page only.
    }
    this.apply(choice);
  }

  private apply(choice: ThemeChoice): void {
    const root = this.document.documentElement;
    root.style.colorScheme = choice === 'system' ? '' : choice;
    root.dataset['theme'] = choice;
  }
}

function readChoice(): ThemeChoice {
  try {
    const stored = localStorage.getItem(STORAGE_KEY);
    return stored === 'light' || stored === 'dark' ? stored : 'system';
  } catch {
    return 'system';
  }
}
